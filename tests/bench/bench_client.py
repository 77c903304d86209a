"""CPU per request of the upstream HTTP client alone: httpx (the old path) vs cal/http1's client.

A `cal mock-upstream` process answers; this process is the client and measures only its own CPU
(`time.process_time`). Each round sends `--requests` small non-stream Anthropic POSTs back to back
over one keep-alive connection, reading each answer the way the gateway's pump does (a streamed
response, its body piece by piece, then close). Rounds alternate between the clients (httpx,
http1, httpx, …) so both see the same machine; the figure per client is its best round, in µs
of this process's CPU per request (the mock's CPU is not counted).

Usage: python tests/bench/bench_client.py [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import trio

from cal.http1.client import HttpClient

ROOT = Path(__file__).resolve().parents[2]
BODY = (
    b'{"model":"claude-mock","max_tokens":16,"stream":false,'
    b'"messages":[{"role":"user","content":"hi"}]}'
)
HEADERS = [
    ("content-type", "application/json"),
    ("anthropic-version", "2023-06-01"),
    ("x-api-key", "sk-bench"),
    ("user-agent", "cal-bench/1"),
    ("accept-encoding", "gzip, br, zstd"),
]

Round = Callable[[str, int], Awaitable[float]]


async def httpx_round(url: str, count: int) -> float:
    """Seconds of CPU for `count` requests through httpx, as the gateway used it."""
    limits = httpx.Limits(max_connections=128, max_keepalive_connections=32, keepalive_expiry=60)
    timeout = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False) as client:
        await _httpx_one(client, url)  # connect outside the measure
        started = time.process_time()
        for _ in range(count):
            await _httpx_one(client, url)
        return time.process_time() - started


async def _httpx_one(client: httpx.AsyncClient, url: str) -> None:
    request = client.build_request("POST", url, headers=HEADERS, content=BODY)
    response = await client.send(request, stream=True)
    try:
        async for _ in response.aiter_bytes():
            pass
    finally:
        await response.aclose()


async def http1_round(url: str, count: int) -> float:
    """Seconds of CPU for `count` requests through cal/http1's client."""
    client = HttpClient()
    await _http1_one(client, url)
    started = time.process_time()
    for _ in range(count):
        await _http1_one(client, url)
    elapsed = time.process_time() - started
    await client.aclose()
    return elapsed


async def _http1_one(client: HttpClient, url: str) -> None:
    response = await client.send("POST", url, HEADERS, BODY, connect_timeout_s=10.0)
    try:
        async for _ in response.iter_bytes():
            pass
    finally:
        response.close()


def start_mock() -> tuple[subprocess.Popen[str], str]:
    """A `cal mock-upstream` on a free port, and its messages URL."""
    argv = [sys.executable, "-m", "cal", "mock-upstream", "--port", "0"]
    mock = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert mock.stdout is not None
    line = mock.stdout.readline()
    if not line.startswith("mock provider "):
        mock.kill()
        raise SystemExit(f"the mock did not start: {line!r}")
    return mock, line.split()[-1] + "/v1/messages"


async def measure(url: str, requests: int, rounds: int) -> dict[str, float]:
    best: dict[str, float] = {}
    clients: dict[str, Round] = {"httpx": httpx_round, "http1": http1_round}
    for index in range(rounds):
        for name, run in clients.items():
            per_request_us = await run(url, requests) / requests * 1e6
            best[name] = min(best.get(name, per_request_us), per_request_us)
            print(f"round {index + 1} {name:<6} {per_request_us:7.1f} µs CPU/request", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    mock, url = start_mock()
    try:
        best = trio.run(measure, url, args.requests, args.rounds)
    finally:
        mock.terminate()
        mock.wait(timeout=10)
    ratio = best["http1"] / best["httpx"]
    print(
        f"best: httpx {best['httpx']:.1f} µs, http1 {best['http1']:.1f} µs CPU/request "
        f"(http1 = {ratio:.2f} x httpx)"
    )


if __name__ == "__main__":
    main()
