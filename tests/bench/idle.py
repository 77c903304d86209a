"""Time to first byte after an idle pause: what a request costs once every process on its path
has slept (in scenario 2, each path waits about 3.9 s between two of its streams).

Usage: python tests/bench/idle.py [--pauses 0,0.05,1] [--rounds 25] [--size 50]
                                  [--gateway-env NAME=VALUE ...]

Short Anthropic streams (2 deltas, 1 ms apart) go to the mock directly, through the gateway and
through both floors (`pipe.py`, `http_floor.py`), one keep-alive connection each, the order
rotating, with the pause before every request. With `--gateway-env`, a second gateway started
with those environment variables (allocator settings, say) joins the rotation, so both gateways
are compared in the same window.
Prints TTFB p50 and p90 per path and pause, and p50 minus direct.
"""

from __future__ import annotations

import argparse

from harness import Proc, Stack, interleave, p50, quantile, short_call

MS = 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pauses", default="0,0.05,1", help="seconds, comma-separated")
    parser.add_argument("--rounds", type=int, default=25, help="requests per path and pause")
    parser.add_argument("--size", type=int, default=50, help="request body, KB")
    parser.add_argument("--gateway-env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.gateway_env)
    stack = Stack()
    try:
        mock = stack.mock()
        paths: dict[str, Proc] = {"direct": mock, "gateway": stack.gateway(mock)}
        if extra:
            paths["gateway+env"] = stack.gateway(mock, extra_env=extra)
        paths["floor"] = stack.pipe(mock)
        paths["http floor"] = stack.pipe(mock, "http_floor.py")
        short = short_call(args.size, True)
        print(f"TTFB, ms; {args.rounds} requests per path and pause; gateway+env: {extra or '-'}")
        print(f"{'pause s':>8}  " + "  ".join(f"{name:>22}" for name in paths))
        for pause in (float(p) for p in args.pauses.split(",")):
            ports = {name: proc.port for name, proc in paths.items()}
            timings = interleave(ports, dict.fromkeys(ports, short), args.rounds, 1, pause)
            got = {name: [t.ttfb * MS for t in runs] for name, runs in timings.items()}
            direct = p50(got["direct"])
            cells = [
                f"{p50(v):6.2f} /{quantile(v, 0.9):6.2f} ({p50(v) - direct:+5.2f})"
                for v in got.values()
            ]
            print(f"{pause:>8g}  " + "  ".join(f"{cell:>22}" for cell in cells), flush=True)
        print("each cell: p50 / p90 (p50 minus direct)")
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
