"""The gateway's own steps on a request's path, in order, each as the median ms from the moment
the gateway received the request's first bytes.

Usage: python tests/bench/steps.py [--size 50] [--stream] [--pause 0] [--rounds 150]

A gateway (capture on) runs with `steps_site/` on PYTHONPATH, whose sitecustomize timestamps the
entry (`>`) and return (`<`) of some twenty functions on the path (its STEPS) and every socket
receive and send. Requests go direct to the mock and through the gateway in turn, one keep-alive
connection each, `--pause` seconds before each; the first 20 of each are a warm-up. A request's
window runs from the gateway's first receive before `parse head>` to the next `parse head>`.
`timeline.py` shows the same request from the outside, against both floors.
"""

from __future__ import annotations

import argparse
import os
import statistics

from harness import HERE, Call, Stack, claude_call, interleave

WARMUP = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="request body, KB")
    parser.add_argument("--stream", action="store_true", help="short streams, not whole answers")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds before each request")
    parser.add_argument("--rounds", type=int, default=150, help="requests per path, measured")
    args = parser.parse_args()
    stack = Stack()
    log = stack.tmp / "steps.txt"
    os.environ["CAL_BENCH_STEPS_FILE"] = str(log)
    site = str(HERE / "steps_site")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)
    try:
        mock = stack.mock()
        ports = {"direct": mock.port, "gateway": stack.gateway(mock).port}
        c = claude_call(args.size, args.stream)
        if args.stream:
            c = Call(c.path, c.body, {**c.headers, "x-mock-chunks": "2", "x-mock-interval-ms": "1"})
        interleave(ports, dict.fromkeys(ports, c), WARMUP + args.rounds, 1, args.pause)
    finally:
        stack.close()  # the gateway writes its log as it exits
    marks = [(float(t), label) for t, label in (line.rstrip().split(" ", 1) for line in log.open())]
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


def _windows(marks: list[tuple[float, str]]) -> list[list[tuple[float, str]]]:
    """One list of marks per request, from the receive that brought its head."""
    windows: list[list[tuple[float, str]]] = []
    pending: tuple[float, str] | None = None  # a receive: this request's, or the next one's head
    for mark in marks:
        if mark[1] == "parse head>" and pending is not None:
            windows.append([pending])
            pending = None
        elif pending is not None and windows:
            windows[-1].append(pending)
            pending = None
        if mark[1] == "recv":
            pending = mark
        elif windows:
            windows[-1].append(mark)
    return windows


def _first_of_each(window: list[tuple[float, str]]) -> list[tuple[float, str]]:
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
