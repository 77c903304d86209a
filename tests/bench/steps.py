"""The gateway's own steps on a request's path, in order, each as the median ms from the moment
the gateway received the request's first bytes.

Usage: python tests/bench/steps.py [--size 50] [--stream] [--pause 0] [--rounds 150]

A gateway (capture on) runs with `timeline_site/` on PYTHONPATH and CAL_BENCH_TRACE_STEPS set,
so it logs the entry (`>`) and return (`<`) of some twenty functions on the path (the site's
STEPS) besides every socket receive and send. Requests go direct to the mock and through the
gateway in turn, one keep-alive connection each, `--pause` seconds before each; the first 20
through the gateway are a warm-up. A request's window runs from the receive that brought its
head to the next request's. `timeline.py` shows the same request from outside, beside both
floors.
"""

from __future__ import annotations

import argparse
import statistics

from harness import Stack, interleave, trace_events, trace_options, traced

WARMUP = 20
Mark = tuple[float, str]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    trace_options(parser, rounds=150)
    args = parser.parse_args()
    stack = Stack()
    folder, c = traced(stack, args, steps=True)
    try:
        mock = stack.mock()
        gateway = stack.gateway(mock)
        ports = {"direct": mock.port, "gateway": gateway.port}
        interleave(ports, dict.fromkeys(ports, c), WARMUP + args.rounds, 1, args.pause)
    finally:
        stack.close()  # the gateway writes its log as it exits
    marks = [
        (t, label if kind == "step" else kind)
        for t, kind, _, label in trace_events(folder, gateway.pid)
    ]
    found: dict[str, list[float]] = {}
    for window in _windows(marks)[WARMUP:]:
        start = window[0][0]
        for t, label in _first_of_each(window):
            found.setdefault(label, []).append((t - start) * 1000)
    kind = "streams" if args.stream else "non-stream"
    print(f"ms from the gateway's first receive, median of {args.rounds}; {args.size} KB {kind}")
    steps = sorted(found.items(), key=lambda item: statistics.median(item[1]))
    for label, values in steps:
        if len(values) >= args.rounds / 2:
            print(f"{label:<20}{statistics.median(values):8.3f}")
    return 0


def _windows(marks: list[Mark]) -> list[list[Mark]]:
    """One list of marks per request, from the receive that brought its head."""
    windows: list[list[Mark]] = []
    pending: Mark | None = None  # a receive: this request's, or the next one's head
    for mark in marks:
        if mark[1] == "parse_head>" and pending is not None:
            windows.append([pending])
            pending = None
        elif pending is not None and windows:
            windows[-1].append(pending)
            pending = None
        if mark[1] == "recv":
            pending = mark
        elif windows and mark[1] != "t0":
            windows[-1].append(mark)
    return windows


def _first_of_each(window: list[Mark]) -> list[Mark]:
    """The first mark of each label; the first two receives and sends numbered in order (`recv 1`
    brings the head, `send 1` goes upstream, `recv 2` is the upstream's answer, `send 2` the
    client's first bytes)."""
    seen: dict[str, int] = {}
    out = []
    for t, label in window:
        if label in ("recv", "send"):
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 2:
                continue
            label = f"{label} {seen[label]}"
        elif label in seen:
            continue
        else:
            seen[label] = 1
        out.append((t, label))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
