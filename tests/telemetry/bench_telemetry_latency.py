"""Gateway latency with the OTLP exporter on and its collector down, against the exporter off.

One process, one trio loop: the mock provider, a runtime whose sinks are a Telemetry object, and
the load (sequential streamed Anthropic requests over one keep-alive connection). Modes alternate
in blocks (off, on, off, on…) so drift in machine load hits both. With the exporter on, the
collector's port has nothing listening, so every export fails and backs off.

Usage: python tests/telemetry/bench_telemetry_latency.py [--requests 300] [--rounds 4]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
import trio

from cal import config
from cal.mock import MockOptions
from cal.mock.service import MockService
from cal.routing.model import Endpoint
from cal.runtime import Runtime, run_runtime
from cal.telemetry import Telemetry

BODY = msgspec.json.encode(
    {
        "model": "claude-bench",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hello " * 200}],
    }
)
HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "k"}


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _block(mock: MockService, data: Path, otel: bool, requests: int) -> list[float]:
    overrides = {"data_dir": data, "gateway_port": 0, "portal_port": 0, "dump_enabled": False}
    if otel:
        overrides |= {"otel_enabled": True, "otlp_endpoint": f"http://127.0.0.1:{_dead_port()}"}
    settings = config.load(overrides, environ={})
    runtime = Runtime(settings)
    telemetry = Telemetry(settings, run_id=runtime.run_id)
    runtime.sinks.append(telemetry)
    runtime.sink_services.append(telemetry)
    ready = trio.Event()
    times: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: run_runtime(
                runtime, endpoint_source=None, on_ready=lambda _: ready.set(), report=lambda _: None
            )
        )
        await ready.wait()
        runtime.registry.set_stored([Endpoint("mock", mock.url, "anthropic")], None)
        url = runtime.listeners["gateway"] + "/v1/messages"
        async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
            for i in range(requests + 20):
                started = time.perf_counter()
                async with client.stream("POST", url, content=BODY, headers=HEADERS) as response:
                    async for _ in response.aiter_raw():
                        pass
                if response.status_code != 200:
                    raise SystemExit(f"HTTP {response.status_code}")
                if i >= 20:  # warm-up
                    times.append(time.perf_counter() - started)
        runtime.stop.set()
    stats = telemetry.statistics()
    print(
        f"  otel={'on ' if otel else 'off'} exchanges={stats.exchanges} dropped={stats.dropped} "
        f"export_failures={stats.export_failures}"
    )
    return times


async def main(requests: int, rounds: int) -> None:
    mock = MockService(MockOptions(chunks=8), host="127.0.0.1", port=0)
    results: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            await nursery.start(mock.run, stop)
            for _ in range(rounds):
                for otel in (False, True):
                    results[otel] += await _block(mock, Path(tmp), otel, requests)
            stop.set()
    for otel, times in results.items():
        ms = sorted(t * 1000 for t in times)
        p50, p95 = statistics.median(ms), ms[int(len(ms) * 0.95)]
        print(
            f"exporter {'on, collector down' if otel else 'off':22} n={len(ms)} "
            f"mean={statistics.fmean(ms):.3f} ms p50={p50:.3f} ms p95={p95:.3f} ms"
        )
    delta = statistics.median(results[True]) - statistics.median(results[False])
    print(f"added p50 latency: {delta * 1000:+.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    trio.run(main, args.requests, args.rounds)
