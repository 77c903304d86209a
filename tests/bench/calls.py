"""How many function calls the gateway makes on one request's two hot stretches: from the
request head's parse to the upstream send (`up`), and from the answer head's parse to the first
write to the client (`down`). A count, not a time: the same on a quiet machine and a busy one,
so it shows what a change to the hot path takes away, where timings drown in noise.

Usage: python tests/bench/calls.py [--size 50] [--stream] [--at 60] [--top 0]

A gateway (capture on) runs with `timeline_site/` on PYTHONPATH and CAL_BENCH_CALLS set;
requests go to it one at a time over one keep-alive connection, and the site counts the calls of
the `--at`th (the ones before warm the gateway up). Prints the Python calls by where their code
lives, and the builtins'; with `--top N`, also the N most called functions and builtins of
each stretch by name.
"""

from __future__ import annotations

import argparse
import collections
import os

from harness import HERE, Stack, SyncConnection, call, short_call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="request body, KB")
    parser.add_argument("--stream", action="store_true", help="short streams, not whole answers")
    parser.add_argument("--at", type=int, default=60, help="which request to count")
    parser.add_argument("--top", type=int, default=0, help="also list the N most called, by name")
    args = parser.parse_args()
    stack = Stack()
    out = stack.tmp / "calls.txt"
    site = str(HERE / "timeline_site")
    path = os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p)
    env = {"CAL_BENCH_CALLS": str(out), "CAL_BENCH_CALLS_AT": str(args.at), "PYTHONPATH": path}
    c = short_call(args.size, args.stream)
    try:
        mock = stack.mock()
        gateway = stack.gateway(mock, extra_env=env)
        conn = SyncConnection(gateway.port)
        for _ in range(args.at + 5):
            call(conn, c)
        conn.close()
    finally:
        stack.close()  # the gateway writes the counts as it exits
    rows = [line.split() for line in out.read_text().splitlines()]
    kind = "streams" if args.stream else "non-stream"
    print(f"calls of request {args.at}, {args.size} KB {kind}")
    for window in ("up", "down"):
        mine = [r for r in rows if r[0] == window]
        python = [r for r in mine if r[1] == "py"]
        places = collections.Counter(_place(r[2]) for r in python)
        print(
            f"{window:<5} python {len(python):>4}  builtins {len(mine) - len(python):>4}  "
            + "  ".join(f"{place} {n}" for place, n in places.most_common())
        )
        if args.top:
            names = collections.Counter(f"{r[2]}:{r[3]}" if r[1] == "py" else r[3] for r in mine)
            print("      " + "  ".join(f"{name} {n}" for name, n in names.most_common(args.top)))
    return 0


def _place(where: str) -> str:
    """cal's package (`cal/gateway`), or the library (`trio`), a code file is in."""
    parts = where.split("/")
    return "/".join(parts[:2]) if parts[0] == "cal" else parts[0].removesuffix(".py")


if __name__ == "__main__":
    raise SystemExit(main())
