"""Added latency of the gateway's same-format pass-through, against a direct call, same run.

The mock provider runs in its own process (`cal mock-upstream`), the gateway in another
(`cal obs up`), and this process is the load: one keep-alive connection to each, requests
interleaved (direct, gateway, direct, …) on a Claude-Code-shaped body built from the capture
(`harness.claude_call`).

Usage: python tests/bench/bench_passthrough.py [--requests N] [--size-kb 50] [--stream]
                                                [--upstream-format F] [--json OUT] [--capture on|off]

With --upstream-format other than anthropic the gateway translates (an Anthropic client served by
an endpoint of that format); the direct call stays a native Anthropic call to the same mock, so
"added" then includes translation. With --stream, time to first byte (the first SSE data line) and
the gaps between events are measured too.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec
from harness import claude_call, fresh


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_line(process: subprocess.Popen[str], pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"process exited before printing {pattern!r}")
        if match := re.search(pattern, line):
            return match.group(1)
    raise SystemExit(f"timed out waiting for {pattern!r}")


class Timing:
    def __init__(self, total: float, ttfb: float, gaps: list[float]) -> None:
        self.total, self.ttfb, self.gaps = total, ttfb, gaps


def call(conn: http.client.HTTPConnection, path: str, body: bytes) -> Timing:
    """One request: seconds to the last byte, to the first `data:` line, and between events."""
    body = fresh(body)
    started = time.perf_counter()
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "x-api-key": "sk-bench",
        },
    )
    response = conn.getresponse()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}: {response.read()[:300]!r}")
    ttfb = 0.0
    stamps: list[float] = []
    if response.getheader("content-type", "").startswith("text/event-stream"):
        while line := response.readline():
            if line.startswith(b"data:"):
                stamps.append(time.perf_counter())
        ttfb = stamps[0] - started if stamps else 0.0
    response.read()  # the rest (after a stream: nothing), so the connection takes the next request
    total = time.perf_counter() - started
    return Timing(total, ttfb, [b - a for a, b in itertools.pairwise(stamps)])


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=50)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--capture", choices=["on", "off"], default="on")
    parser.add_argument(
        "--upstream-format",
        choices=["anthropic", "openai-chat", "openai-responses", "gemini"],
        default="anthropic",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    cal = [sys.executable, "-m", "cal"]
    mock_port, gateway_port = free_port(), free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="cal-bench-"))
    env = {
        **os.environ,
        "CODE_AGENT_LENS_OBS_DUMP_ENABLED": "true" if args.capture == "on" else "false",
    }
    mock = subprocess.Popen(
        [*cal, "mock-upstream", "--port", str(mock_port)], stdout=subprocess.PIPE, text=True
    )
    gateway = None
    try:
        wait_line(mock, r"(http://127\.0\.0\.1:\d+)")
        subprocess.run(
            [
                *cal,
                "endpoint",
                "add",
                "mock",
                "--url",
                f"http://127.0.0.1:{mock_port}",
                "--format",
                "anthropic",
                "--data-dir",
                str(data_dir),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        gateway = subprocess.Popen(
            [
                *cal,
                "obs",
                "up",
                "--data-dir",
                str(data_dir),
                "--gateway",
                f"127.0.0.1:{gateway_port}",
                "--portal",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        wait_line(gateway, r"gateway\s+(http://\S+)")
        body = claude_call(args.size_kb, args.stream).body
        direct = http.client.HTTPConnection("127.0.0.1", mock_port)
        through = http.client.HTTPConnection("127.0.0.1", gateway_port)
        for _ in range(50):  # warm both paths
            call(direct, "/v1/messages", body)
            call(through, "/v1/messages", body)
        direct_runs: list[Timing] = []
        gateway_runs: list[Timing] = []
        for _ in range(args.requests):
            direct_runs.append(call(direct, "/v1/messages", body))
            gateway_runs.append(call(through, "/v1/messages", body))
        ms = 1000.0
        d_times = [t.total for t in direct_runs]
        g_times = [t.total for t in gateway_runs]
        pairs = [(g - d) * ms for d, g in zip(d_times, g_times, strict=True)]
        result: dict[str, object] = {
            "scenario": f"{'stream' if args.stream else 'non-stream'}, anthropic client via "
            f"{args.upstream_format} endpoint, one connection",
            "body_bytes": len(body),
            "requests_each": args.requests,
            "capture": args.capture,
            "direct_p50_ms": statistics.median(d_times) * ms,
            "direct_p99_ms": quantile(d_times, 0.99) * ms,
            "gateway_p50_ms": statistics.median(g_times) * ms,
            "gateway_p99_ms": quantile(g_times, 0.99) * ms,
            "added_p50_ms": (statistics.median(g_times) - statistics.median(d_times)) * ms,
            "added_p99_ms": (quantile(g_times, 0.99) - quantile(d_times, 0.99)) * ms,
            "paired_added_p50_ms": statistics.median(pairs),
        }
        if args.stream:
            d_ttfb = [t.ttfb for t in direct_runs]
            g_ttfb = [t.ttfb for t in gateway_runs]
            d_gaps = [g for t in direct_runs for g in t.gaps]
            g_gaps = [g for t in gateway_runs for g in t.gaps]
            result.update(
                direct_ttfb_p50_ms=statistics.median(d_ttfb) * ms,
                gateway_ttfb_p50_ms=statistics.median(g_ttfb) * ms,
                added_ttfb_p50_ms=(statistics.median(g_ttfb) - statistics.median(d_ttfb)) * ms,
                direct_gap_p50_ms=statistics.median(d_gaps) * ms if d_gaps else 0.0,
                gateway_gap_p50_ms=statistics.median(g_gaps) * ms if g_gaps else 0.0,
                gateway_gap_p99_ms=quantile(g_gaps, 0.99) * ms if g_gaps else 0.0,
            )
        for key, value in result.items():
            print(f"{key:22} {value:.3f}" if isinstance(value, float) else f"{key:22} {value}")
        if args.json:
            args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    finally:
        for process in (gateway, mock):
            if process is not None:
                process.terminate()
                process.wait(timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)  # the captures
    return 0


if __name__ == "__main__":
    sys.exit(main())
