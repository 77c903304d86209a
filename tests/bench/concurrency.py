"""Scenario 3: 64 concurrent paced streams (50 KB Claude Code bodies) for 30 s through the gateway.

Each of 64 connections sends a streaming request, reads it to the end, and sends the next, until
the time is up (starts staggered over one second). A stall is any gap between two reads of a
stream longer than the pacing plus 50 ms. Afterwards the gateway's request index must hold every
request. Direct and floor get the same load for a shorter phase in the same run, for reference.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import trio
from harness import (
    MS,
    PACING_MS,
    RawConnection,
    Row,
    Stack,
    capture_stats,
    captured_total,
    claude_call,
    compare,
    fact,
    fresh,
    p50,
    p99,
    raw_request,
    wait_captured,
)

NAME = "3 64 streams"
CONNECTIONS = 64
STALL_MS = PACING_MS + 50


@dataclass
class Phase:
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    ttfb: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def stalls(self) -> int:
        return sum(1 for g in self.gaps if g > STALL_MS)


async def _stream_load(port: int, raw: bytes, seconds: float, phase: Phase) -> None:
    deadline = time.perf_counter() + seconds

    async def one(index: int) -> None:
        await trio.sleep(index / CONNECTIONS)
        try:
            conn = await RawConnection.open(port)
        except OSError as exc:
            phase.errors.append(f"connect: {exc!r}")
            return
        try:
            while time.perf_counter() < deadline:
                stamps: list[float] = []
                request = fresh(raw)
                sent = time.perf_counter()
                try:
                    status, first = await conn.request(request, stamps.append)
                except (OSError, ConnectionError, trio.BrokenResourceError) as exc:
                    phase.errors.append(repr(exc))
                    return
                phase.requests += 1
                if status != 200:
                    phase.errors.append(f"HTTP {status}")
                    continue
                phase.ttfb.append((first - sent) * MS)
                phase.gaps += [(b - a) * MS for a, b in itertools.pairwise(stamps)]
        finally:
            await conn.aclose()

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(CONNECTIONS):
            nursery.start_soon(one, i)
    phase.seconds = time.perf_counter() - started


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    mock, gateway, pipe = env["mock"], env["gateway"], env["pipe"]
    main_s, side_s = (6.0, 3.0) if quick else (30.0, 10.0)
    c = claude_call(50, stream=True)
    phases: dict[str, Phase] = {}
    before = captured_total(gateway)
    for name, port, seconds in (
        ("direct", mock.port, side_s),
        ("gateway", gateway.port, main_s),
        ("floor", pipe.port, side_s),
    ):
        phases[name] = Phase()
        trio.run(_stream_load, port, raw_request(c, port), seconds, phases[name])
    g = phases["gateway"]
    expected = before + g.requests
    captured = wait_captured(gateway, expected) - before
    stats = capture_stats(gateway)
    d, f = phases["direct"], phases["floor"]
    rows = [
        fact(NAME, "requests (gateway)", "n", g.requests, None, f"{main_s:g} s x {CONNECTIONS}"),
        Row(NAME, "errors", "n", len(d.errors), len(g.errors), len(f.errors), None, "= 0"),
        Row(NAME, f"stalls (gap > {STALL_MS} ms)", "n", d.stalls, g.stalls, f.stalls, None, "= 0"),
        compare(NAME, "event gap p50", "ms", p50(d.gaps), p50(g.gaps), p50(f.gaps)),
        compare(NAME, "event gap p99", "ms", p99(d.gaps), p99(g.gaps), p99(f.gaps)),
        compare(
            NAME,
            "event gap max",
            "ms",
            max(d.gaps, default=0.0),
            max(g.gaps, default=0.0),
            max(f.gaps, default=0.0),
            STALL_MS,
            added=False,
        ),
        compare(NAME, "TTFB p50", "ms", p50(d.ttfb), p50(g.ttfb), p50(f.ttfb)),
        compare(NAME, "TTFB p99", "ms", p99(d.ttfb), p99(g.ttfb), p99(f.ttfb)),
        fact(NAME, "captured / sent", "n", captured, captured == g.requests, f"= {g.requests}"),
    ]
    rows[1].ok = not g.errors
    rows[2].ok = g.stalls == 0
    details = {
        name: {
            "seconds": p.seconds,
            "requests": p.requests,
            "errors": p.errors[:20],
            "stalls": p.stalls,
            "gaps": len(p.gaps),
        }
        for name, p in phases.items()
    }
    details["capture"] = {"captured": captured, "writer": stats}
    return rows, details
