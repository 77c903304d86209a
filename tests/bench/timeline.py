"""Where a request's time goes, process by process: the client, the gateway (or a floor) and the
mock, on one clock.

Usage: python tests/bench/timeline.py [--size 50] [--stream] [--pause 0] [--rounds 30]

The mock, a gateway (capture on), the pipe and the HTTP floor (`http_floor.py`) run with
`timeline_site/` on PYTHONPATH, whose sitecustomize logs every socket send and receive with
`time.perf_counter` (the monotonic clock, the same in every process) and, in the gateway, when
each request's record starts. Requests go direct, through the gateway and through both floors,
one keep-alive connection each, the order rotating, with `--pause` seconds before each
(scenario 2's streams come after about 2.6 s).
Short streams with `--stream` (2 deltas, 1 ms apart), else non-stream calls. Prints, per path,
the median time of each step in ms from the client's send; "first byte" is the first `data:`
line of a stream, or the end of a non-stream answer. The logging costs a few µs per event, so
read the steps against each other, not as absolute figures.
"""

from __future__ import annotations

import argparse
import statistics

from harness import (
    Proc,
    Stack,
    Timing,
    TraceEvent,
    interleave,
    trace_events,
    trace_options,
    traced,
)

STEPS = [
    ("server recv", "the gateway or floor reads the request (direct: the mock)"),
    ("record starts", "the gateway's GatewayRequest"),
    ("upstream send", "the gateway or floor starts sending to the mock"),
    ("mock recv", "the mock reads it"),
    ("mock send", "the mock starts its answer"),
    ("upstream recv", "the gateway or floor reads the answer's first bytes"),
    ("server send", "the gateway or floor starts sending them to the client"),
    ("first byte", "the client has the first data: line (or the whole answer)"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    trace_options(parser, rounds=30)
    args = parser.parse_args()
    procs, calls, events = run_traced(args, ["gateway", "floor", "http floor"], warmup=1)
    mock = procs["direct"]
    print(
        f"ms from the client's send, median of {args.rounds}; {args.size} KB "
        f"{'streams' if args.stream else 'non-stream'}, pause {args.pause:g} s"
    )
    print(f"{'step':<15}" + "".join(f"{name:>11}" for name in procs))
    table = {name: _steps(name, calls[name], events, procs[name].port, mock.port) for name in procs}
    for step, meaning in STEPS:
        cells = [table[name].get(step) for name in procs]
        text = "".join(f"{v:>11.3f}" if v is not None else f"{'-':>11}" for v in cells)
        print(f"{step:<15}{text}   {meaning}")
    return 0


def run_traced(
    args: argparse.Namespace, paths: list[str], *, warmup: int, direct: bool = True
) -> tuple[dict[str, Proc], dict[str, list[Timing]], dict[str, list[TraceEvent]]]:
    """Start the mock (`direct`) and `paths` (of gateway, floor, http floor) with their sockets
    traced; send each path (and the mock itself with `direct`) `args.rounds` requests in turn
    after `warmup` rounds; stop them. Returns the processes, each path's timings and each
    process's trace events."""
    stack = Stack()
    folder, c = traced(stack, args)
    try:
        mock = stack.mock()
        start = {
            "gateway": lambda: stack.gateway(mock),
            "floor": lambda: stack.pipe(mock),
            "http floor": lambda: stack.pipe(mock, "http_floor.py"),
        }
        procs = {"direct": mock} | {name: start[name]() for name in paths}
        ports = {name: procs[name].port for name in (["direct"] if direct else []) + paths}
        calls = interleave(ports, dict.fromkeys(ports, c), args.rounds, warmup, args.pause)
    finally:
        stack.close()  # the processes write their logs as they exit
    return procs, calls, {name: trace_events(folder, proc.pid) for name, proc in procs.items()}


def _first(
    events: list[TraceEvent], a: float, b: float, kind: str, local: int, ours: bool
) -> float | None:
    """The first `kind` event in [a, b] on a socket whose local port is `local` (`ours`) or is
    not (the process's own connection to the mock)."""
    for t, k, port, _label in events:
        if a <= t <= b and k == kind and (port == local) == ours:
            return t
    return None


def _steps(
    name: str, timings: list[Timing], events: dict[str, list[TraceEvent]], port: int, mock_port: int
) -> dict[str, float]:
    """The median ms of each step from the client's send. The requests run one at a time, so
    within one request's window the server's events on its own port are this request's; the
    gateway's or floor's others are on its connection to the mock."""
    mock = events["direct"]
    own = events[name]
    found: dict[str, list[float]] = {}
    for timing in timings:
        start = timing.started
        first = start + (timing.ttfb or timing.total)
        end = first + 0.001
        marks: dict[str, float | None] = {"first byte": first}
        if name == "direct":
            marks["server recv"] = _first(mock, start, end, "recv", mock_port, True)
            marks["mock send"] = _first(mock, start, end, "send", mock_port, True)
        else:
            marks["server recv"] = _first(own, start, end, "recv", port, True)
            marks["record starts"] = _first(own, start, end, "t0", 0, True)
            up = _first(own, start, end, "send", port, False)
            if up is not None:
                marks["upstream send"] = up
                marks["mock recv"] = _first(mock, up, end, "recv", mock_port, True)
                marks["mock send"] = _first(mock, up, end, "send", mock_port, True)
                marks["upstream recv"] = _first(own, up, end, "recv", port, False)
            marks["server send"] = _first(own, start, end, "send", port, True)
        for step, t in marks.items():
            if t is not None:
                found.setdefault(step, []).append((t - start) * 1000)
    half = len(timings) / 2
    return {step: statistics.median(v) for step, v in found.items() if len(v) >= half}


if __name__ == "__main__":
    raise SystemExit(main())
