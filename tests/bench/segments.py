"""The gateway's own time on a request's way, beside the HTTP floor's: from the request's first
bytes to the upstream send (`to upstream`), and from the answer's first bytes to the client's
(`to client`), each the median (and p90) ms of its own requests.

Usage: python tests/bench/segments.py [--size 50] [--stream] [--pause 0] [--rounds 100]

The gateway (capture on), the HTTP floor and the mock log their socket sends and receives
(`timeline_site/`, as in `timeline.py`); requests alternate between the two paths, one
keep-alive connection each, after ten rounds to warm up. The two stretches are each process's
own work (and its scheduler's), so they compare two versions of the gateway across runs far
more steadily than the time to first byte, which adds the mock and the client.
"""

from __future__ import annotations

import argparse
import statistics

from harness import trace_options
from timeline import _first, run_traced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    trace_options(parser, rounds=100)
    args = parser.parse_args()
    procs, calls, traces = run_traced(args, ["gateway", "http floor"], warmup=10, direct=False)
    kind = "streams" if args.stream else "non-stream"
    print(f"ms, median (p90) of {args.rounds}; {args.size} KB {kind}, pause {args.pause:g} s")
    for name in ("gateway", "http floor"):
        proc, events = procs[name], traces[name]
        up: list[float] = []
        down: list[float] = []
        first: list[float] = []
        for timing in calls[name]:
            start = timing.started
            end = start + (timing.ttfb or timing.total) + 0.001
            received = _first(events, start, end, "recv", proc.port, True)
            sent = _first(events, start, end, "send", proc.port, False)
            if received is None or sent is None:
                continue
            answer = _first(events, sent, end, "recv", proc.port, False)
            relayed = _first(events, sent, end, "send", proc.port, True)
            if answer is None or relayed is None:
                continue
            up.append((sent - received) * 1000)
            down.append((relayed - answer) * 1000)
            first.append((timing.ttfb or timing.total) * 1000)
        print(
            f"{name:<11} to upstream {_cell(up)}   to client {_cell(down)}   "
            f"first byte {_cell(first)}   ({len(up)} requests)"
        )
    return 0


def _cell(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    p90 = statistics.quantiles(values, n=10)[-1]
    return f"{statistics.median(values):.3f} ({p90:.3f})"


if __name__ == "__main__":
    raise SystemExit(main())
