"""Scenario 4: small non-stream requests at 8 and 64 connections, capture on.

The load is closed-loop (each connection sends its next request when the answer is in), from a
lean trio HTTP/1.1 client in this process. Direct, gateway and floor take turns in slices of a few
seconds, so drift of the shared machine hits all three alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import trio
from harness import (
    MS,
    RawConnection,
    Row,
    Stack,
    capture_stats,
    capture_worker_pid,
    captured_total,
    compare,
    cpu_seconds,
    fact,
    fresh,
    p50,
    p99,
    raw_request,
    small_call,
    wait_captured,
)

NAME = "4 small non-stream"


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0

    @property
    def cpu_ms(self) -> float:
        """CPU time of the serving process per request."""
        return self.cpu / len(self.latencies) * MS if self.latencies else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


async def closed_loop(port: int, raw: bytes, connections: int, seconds: float, load: Load) -> None:
    """`connections` keep-alive connections sending `raw` back to back for `seconds`."""
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        try:
            conn = await RawConnection.open(port)
        except OSError as exc:
            load.errors.append(f"connect: {exc!r}")
            return
        try:
            while time.perf_counter() < deadline:
                request = fresh(raw)
                sent = time.perf_counter()
                try:
                    status, _ = await conn.request(request)
                except (OSError, ConnectionError, trio.BrokenResourceError) as exc:
                    load.errors.append(repr(exc))
                    return
                if status != 200:
                    load.errors.append(f"HTTP {status}")
                load.latencies.append((time.perf_counter() - sent) * MS)
        finally:
            await conn.aclose()

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(connections):
            nursery.start_soon(one)
    load.seconds += time.perf_counter() - started


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    procs = {"direct": env["mock"], "gateway": env["gateway"], "floor": env["pipe"]}
    ports = {name: proc.port for name, proc in procs.items()}
    rounds, slice_s = (1, 2.0) if quick else (3, 4.0)
    c = small_call()
    rows: list[Row] = []
    details: dict[str, Any] = {"rounds": rounds, "slice_s": slice_s, "body_bytes": len(c.body)}
    dropped = capture_stats(env["gateway"]).get("dropped", 0)
    worker = capture_worker_pid(env["gateway"])
    for connections in (8, 64):
        loads = {name: Load() for name in ports}
        # the worker writes behind the gateway (and at a lower priority): its CPU is counted
        # from here until it has indexed every request of this round, warm-up included
        indexed = captured_total(env["gateway"])
        handed = 0
        worker_cpu = cpu_seconds(worker) if worker else 0.0
        for name, port in ports.items():  # warm-up: the gateway's pool grows to `connections`
            warm = Load()
            trio.run(closed_loop, port, raw_request(c, port), connections, 0.5, warm)
            handed += len(warm.latencies) if name == "gateway" else 0
        for _ in range(rounds):
            for name, port in ports.items():
                cpu = cpu_seconds(procs[name].pid)
                trio.run(closed_loop, port, raw_request(c, port), connections, slice_s, loads[name])
                loads[name].cpu += cpu_seconds(procs[name].pid) - cpu
        label = f"{NAME} c={connections}"
        d, g, f = loads["direct"], loads["gateway"], loads["floor"]
        rps_target = 600.0 if connections == 8 else None
        rows.append(
            compare(
                label,
                "requests/s",
                "rps",
                d.rps,
                g.rps,
                f.rps,
                rps_target,
                added=False,
                at_least=True,
            )
        )
        rows.append(
            compare(
                label, "latency p50", "ms", p50(d.latencies), p50(g.latencies), p50(f.latencies)
            )
        )
        p99_target = 100.0 if connections == 64 else None
        rows.append(
            compare(
                label,
                "latency p99",
                "ms",
                p99(d.latencies),
                p99(g.latencies),
                p99(f.latencies),
                p99_target,
                added=False,
            )
        )
        rows.append(
            compare(label, "CPU per request", "ms", d.cpu_ms, g.cpu_ms, f.cpu_ms, added=False)
        )
        if worker and g.latencies:
            handed += len(g.latencies)
            wait_captured(env["gateway"], indexed + handed, timeout=120.0)
            worker_ms = (cpu_seconds(worker) - worker_cpu) / handed * MS
            rows.append(fact(label, "capture worker CPU per request", "ms", worker_ms, None, ""))
            rows.append(
                fact(
                    label, "gateway + worker CPU per request", "ms", g.cpu_ms + worker_ms, None, ""
                )
            )
        errors = Row(label, "errors", "n", len(d.errors), len(g.errors), len(f.errors), None, "= 0")
        errors.ok = not g.errors
        rows.append(errors)
        details[f"c{connections}"] = {
            n: {"requests": len(x.latencies), "seconds": x.seconds, "errors": x.errors[:10]}
            for n, x in loads.items()
        }
    dropped = capture_stats(env["gateway"]).get("dropped", 0) - dropped
    rows.append(fact(NAME, "capture drops (writer queue full)", "n", dropped, dropped == 0, "= 0"))
    return rows, details
