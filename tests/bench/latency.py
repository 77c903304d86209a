"""Scenario 1: non-stream, one connection, same-format pass-through (Anthropic), 50 and 200 KB.

Direct, gateway and floor requests alternate over one keep-alive connection each (the order
rotates every round), on Claude Code's captured request grown to the size. The same rounds then
go through a second gateway with capture off, once the first one's capture has caught up, so
every run shows what full capture costs (rows "capture off", no target: the targets hold with
capture on). The capture worker's CPU per request is counted from the rounds' start (once it has
caught up with the warm-up) until it has indexed every request of the rounds.
"""

from __future__ import annotations

from typing import Any

from harness import (
    MS,
    Call,
    Proc,
    Row,
    Stack,
    capture_worker_pid,
    captured_total,
    claude_call,
    compare,
    cpu_seconds,
    fact,
    interleave,
    ms,
    p50,
    p99,
    wait_captured,
)

NAME = "1 non-stream c=1"


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    rounds, warmup = (150, 20) if quick else (1000, 50)
    rows: list[Row] = []
    details: dict[str, Any] = {"rounds": rounds}
    for size in (50, 200):
        c = claude_call(size, stream=False)
        label = f"{NAME} {size}KB"
        t, cpu, info = _measure(env, "gateway", c, rounds, warmup, capture=env["gateway"])
        rows.append(compare(label, "latency p50", "ms", *_q(t, p50), 1.0))
        rows.append(compare(label, "latency p99", "ms", *_q(t, p99), 2.5))
        rows.append(compare(label, "CPU per request", "ms", *_q(cpu, None), added=False))
        if "worker" in cpu:
            worker = cpu["worker"]
            rows.append(fact(label, "capture worker CPU per request", "ms", worker, None, ""))
        details[f"{size}KB"] = {"body_bytes": len(c.body), **info}
        if "gateway_nocapture" in env:
            t, cpu, info = _measure(env, "gateway_nocapture", c, rounds, warmup)
            off = f"{label} capture off"
            rows.append(compare(off, "latency p50", "ms", *_q(t, p50)))
            rows.append(compare(off, "latency p99", "ms", *_q(t, p99)))
            rows.append(compare(off, "CPU per request", "ms", *_q(cpu, None), added=False))
            details[f"{size}KB capture off"] = info
    return rows, details


def _measure(
    env: dict[str, Any],
    gateway: str,
    c: Call,
    rounds: int,
    warmup: int,
    capture: Proc | None = None,
) -> tuple[dict[str, list[float]], dict[str, float], dict[str, Any]]:
    """(latencies in ms per path, CPU ms per request per serving process, details); with
    `capture`, also its capture worker's CPU per request ("worker")."""
    procs = {"direct": "mock", "gateway": gateway, "floor": "pipe"}
    paths = {name: env[proc].port for name, proc in procs.items()}
    sent = captured_total(capture) if capture is not None else 0
    interleave(paths, dict.fromkeys(paths, c), warmup, 0)
    worker = capture_worker_pid(capture) if capture is not None else None
    if capture is not None:
        wait_captured(capture, sent + warmup, timeout=120)
    before = {name: cpu_seconds(env[proc].pid) for name, proc in procs.items()}
    worker_before = cpu_seconds(worker) if worker is not None else 0.0
    got = interleave(paths, dict.fromkeys(paths, c), rounds, 0)
    served = {"direct": 3 * rounds, "gateway": rounds, "floor": rounds}  # the mock serves all
    cpu = {n: (cpu_seconds(env[procs[n]].pid) - v) / served[n] * MS for n, v in before.items()}
    if capture is not None:
        wait_captured(capture, sent + warmup + rounds, timeout=120)
        if worker is not None:
            cpu["worker"] = (cpu_seconds(worker) - worker_before) / rounds * MS
    t = {name: ms([x.total for x in runs]) for name, runs in got.items()}
    pairs = [g - d for d, g in zip(t["direct"], t["gateway"], strict=True)]
    info = {
        "paired_added_p50_ms": p50(pairs),
        **{f"{n}_{q.__name__}_ms": q(v) for n, v in t.items() for q in (p50, p99)},
    }
    return t, cpu, info


def _q(t: dict[str, Any], q: Any) -> tuple[float, float, float]:
    if q is None:
        return t["direct"], t["gateway"], t["floor"]
    return q(t["direct"]), q(t["gateway"]), q(t["floor"])
