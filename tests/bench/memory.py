"""Scenario 5: resident memory of a fresh gateway, idle and over 20,000 requests (capture on).

RSS (psutil) of the `cal obs up` process: idle one second after it is ready, after a warm-up of
1,000 requests (the baseline: pools, caches and the capture queue have grown), then after every
quarter of the 20,000 requests, and after the capture writer has drained. Nine requests in ten
are small, one in ten carries the 50 KB Claude Code body; 8 connections. The mock's and the
pipe's RSS are shown beside it for reference.
"""

from __future__ import annotations

import time
from typing import Any

import psutil
import trio
from harness import (
    RawConnection,
    Row,
    Stack,
    capture_stats,
    capture_worker_pid,
    captured_total,
    claude_call,
    compare,
    fact,
    fresh,
    raw_request,
    small_call,
    wait_captured,
)

NAME = "5 memory"
MB = 1024 * 1024


async def _send(port: int, requests: int, connections: int = 8) -> int:
    """`requests` requests over `connections` connections; the number of errors."""
    small, big = raw_request(small_call(), port), raw_request(claude_call(50, False), port)
    counter = iter(range(requests))
    errors = 0

    async def one() -> None:
        nonlocal errors
        conn = await RawConnection.open(port)
        try:
            for i in counter:
                status, _ = await conn.request(fresh(big if i % 10 == 9 else small))
                errors += status != 200
        finally:
            await conn.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(one)
    return errors


def _rss(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MB


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    mock, pipe = env["mock"], env["pipe"]
    total, warm = (1000, 200) if quick else (20000, 1000)
    gateway = stack.gateway(mock)
    time.sleep(1.0)
    idle = {"direct": _rss(mock.pid), "gateway": _rss(gateway.pid), "floor": _rss(pipe.pid)}
    worker = capture_worker_pid(gateway)
    worker_idle = _rss(worker) if worker else 0.0
    errors = trio.run(_send, gateway.port, warm)
    wait_captured(gateway, warm)
    base = {"direct": _rss(mock.pid), "gateway": _rss(gateway.pid)}
    worker_base = _rss(worker) if worker else 0.0
    curve = []
    started = time.perf_counter()
    for _ in range(4):
        errors += trio.run(_send, gateway.port, total // 4)
        curve.append(round(_rss(gateway.pid), 1))
    seconds = time.perf_counter() - started
    captured = wait_captured(gateway, warm + total, timeout=60.0)
    time.sleep(1.0)
    end = {"direct": _rss(mock.pid), "gateway": _rss(gateway.pid)}
    worker_end = _rss(worker) if worker else 0.0
    growth = {k: end[k] - base[k] for k in end}
    drops = int(capture_stats(gateway).get("dropped", 0))
    rows = [
        compare(
            NAME,
            "RSS idle",
            "MB",
            idle["direct"],
            idle["gateway"],
            idle["floor"],
            80.0,
            added=False,
        ),
        compare(
            NAME,
            f"RSS growth over {total} requests",
            "MB",
            growth["direct"],
            growth["gateway"],
            None,
            15.0,
            added=False,
        ),
        fact(NAME, "RSS after the run", "MB", end["gateway"], None, ""),
        fact(NAME, "capture worker RSS idle", "MB", worker_idle, None, ""),
        fact(
            NAME,
            f"capture worker RSS growth over {total}",
            "MB",
            worker_end - worker_base,
            None,
            "",
        ),
        fact(NAME, "gateway + worker RSS idle", "MB", idle["gateway"] + worker_idle, None, ""),
        fact(NAME, "errors", "n", errors, errors == 0, "= 0"),
        fact(NAME, "captured / sent", "n", captured, captured == warm + total, f"= {warm + total}"),
        fact(NAME, "capture drops (writer queue full)", "n", drops, drops == 0, "= 0"),
    ]
    details = {
        "requests": total,
        "warmup": warm,
        "rps": total / seconds,
        "rss_idle_mb": idle,
        "rss_baseline_mb": base,
        "rss_end_mb": end,
        "worker_rss_mb": {"idle": worker_idle, "baseline": worker_base, "end": worker_end},
        "gateway_rss_each_quarter_mb": curve,
        "captured_total": captured_total(gateway),
        "capture_writer": capture_stats(gateway),
    }
    gateway.stop()
    return rows, details
