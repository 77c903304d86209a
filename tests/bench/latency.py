"""Scenario 1: non-stream, one connection, same-format pass-through (Anthropic), 50 and 200 KB.

Direct, gateway and floor requests alternate over one keep-alive connection each (the order
rotates every round), on Claude Code's captured request grown to the size.
"""

from __future__ import annotations

from typing import Any

from harness import MS, Row, Stack, claude_call, compare, cpu_seconds, interleave, ms, p50, p99

NAME = "1 non-stream c=1"
PROCS = {"direct": "mock", "gateway": "gateway", "floor": "pipe"}


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    mock, gateway, pipe = env["mock"], env["gateway"], env["pipe"]
    rounds, warmup = (150, 20) if quick else (1000, 50)
    paths = {"direct": mock.port, "gateway": gateway.port, "floor": pipe.port}
    rows: list[Row] = []
    details: dict[str, Any] = {"rounds": rounds}
    for size in (50, 200):
        c = claude_call(size, stream=False)
        interleave(paths, dict.fromkeys(paths, c), warmup, 0)
        cpu = {name: cpu_seconds(env[proc].pid) for name, proc in PROCS.items()}
        got = interleave(paths, dict.fromkeys(paths, c), rounds, 0)
        served = {"direct": 3 * rounds, "gateway": rounds, "floor": rounds}  # the mock serves all
        cpu = {n: (cpu_seconds(env[PROCS[n]].pid) - v) / served[n] * MS for n, v in cpu.items()}
        t = {name: ms([x.total for x in runs]) for name, runs in got.items()}
        pairs = [g - d for d, g in zip(t["direct"], t["gateway"], strict=True)]
        label = f"{NAME} {size}KB"
        rows.append(compare(label, "latency p50", "ms", *_q(t, p50), 1.0))
        rows.append(compare(label, "latency p99", "ms", *_q(t, p99), 2.5))
        rows.append(compare(label, "CPU per request", "ms", *_q(cpu, None), added=False))
        details[f"{size}KB"] = {
            "body_bytes": len(c.body),
            "paired_added_p50_ms": p50(pairs),
            **{f"{n}_{q.__name__}_ms": q(v) for n, v in t.items() for q in (p50, p99)},
        }
    return rows, details


def _q(t: dict[str, Any], q: Any) -> tuple[float, float, float]:
    if q is None:
        return t["direct"], t["gateway"], t["floor"]
    return q(t["direct"]), q(t["gateway"]), q(t["floor"])
