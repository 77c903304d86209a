"""CPU per request of the c=1 load generator itself: http.client (the suite's until session 7) vs
`harness.SyncConnection` (the suite's now), on scenario 1's bodies.

The generator shares the two cores with the mock, the gateway and its capture worker, so what it
spends is taken from what it measures. A `cal mock-upstream` process answers; this process is
the client and counts only its own CPU (`time.process_time`). Rounds of `--requests` non-stream
calls over one keep-alive connection alternate between the two clients; the figure per client
and body size is its least round, in µs of this process's CPU per call.

Usage: python tests/bench/generator.py [--requests 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import http.client
import time
from collections.abc import Callable
from functools import partial

from harness import Call, Stack, SyncConnection, call, claude_call, fresh


def http_client_call(conn: http.client.HTTPConnection, c: Call) -> None:
    """One call the way the suite made it with http.client (its `call` as of 5c668ee)."""
    body = fresh(c.body)
    conn.request("POST", c.path, body=body, headers=c.headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"{c.path}: HTTP {response.status}")


def cpu_us_per_call(one: Callable[[], object], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        one()
    return (time.process_time() - started) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per client and size")
    args = parser.parse_args()
    stack = Stack()
    try:
        mock = stack.mock()
        print(f"µs of this process's CPU per call (least of {args.rounds} rounds)")
        print(f"{'body':>6}  {'http.client':>12}  {'SyncConnection':>15}")
        for size in (50, 200):
            c = claude_call(size, stream=False)
            old = http.client.HTTPConnection("127.0.0.1", mock.port)
            new = SyncConnection(mock.port)
            clients: dict[str, Callable[[], object]] = {
                "http.client": partial(http_client_call, old, c),
                "SyncConnection": partial(call, new, c),
            }
            best = dict.fromkeys(clients, float("inf"))
            for one in clients.values():  # warm both
                cpu_us_per_call(one, 20)
            for _ in range(args.rounds):
                for name, one in clients.items():
                    best[name] = min(best[name], cpu_us_per_call(one, args.requests))
            print(f"{size:>4}KB  {best['http.client']:>12.0f}  {best['SyncConnection']:>15.0f}")
            old.close()
            new.close()
    finally:
        stack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
