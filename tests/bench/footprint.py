"""Why a request after a pause costs more here, and more through the gateway than through the
floors: memory left untouched for a while is slow to touch again on this machine, and each path
touches a different amount of it per request.

Usage: python tests/bench/footprint.py [--rounds 9] [--size 50]

1. This process maps 32 MB, then touches each of its pages once after pauses of 0 to 2 s, and
   prints the µs per page (median of three rounds per pause). On an ordinary machine every
   pause gives about the same figure.
2. The gateway (capture on), the HTTP floor and the byte pipe each serve short streams whose
   second event comes 400 ms after the first. Before each request the path's referenced bits
   are cleared (`/proc/PID/clear_refs`); once the client has the first `data:` line (and 20 ms
   more), the private memory the process touched is read from `/proc/PID/smaps` (`Referenced`
   of its heap and anonymous mappings: the interpreter's objects and the buffers). The same
   window with no request shows what the process touches on its own. Prints medians in KB and
   4 KB pages. Pages × the µs per page after a pause is roughly what the pause adds to a first
   byte through that path.
"""

from __future__ import annotations

import argparse
import mmap
import re
import statistics
import time

from harness import Proc, Stack, SyncConnection, call, claude_call

PAUSES_S = (0.0, 0.05, 0.2, 1.0, 2.0)
TOUCHED_MB = 32
PAGE = 4096
PRIVATE = ("[heap]", "")
"""smaps' name column of the heap and of anonymous mappings (pymalloc's arenas, big buffers)."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="requests per path")
    parser.add_argument("--size", type=int, default=50, help="request body, KB")
    args = parser.parse_args()
    print(f"touching {TOUCHED_MB} MB once per page after a pause, µs per page (median of 3):")
    for pause, us in _touch_after_pauses().items():
        print(f"  pause {pause:>4g} s  {us:6.2f}")
    stack = Stack()
    try:
        mock = stack.mock(chunks=2, interval_ms=400)
        paths = {
            "gateway": stack.gateway(mock),
            "http floor": stack.pipe(mock, "http_floor.py"),
            "pipe": stack.pipe(mock),
        }
        print(f"private memory touched, KB (4 KB pages), median of {args.rounds}:")
        print(f"  {'path':<12}{'to the first byte':>20}{'on its own, same window':>26}")
        for name, proc in paths.items():
            busy, idle = _touched(proc, args.size, args.rounds)
            pages = busy * 1024 // PAGE, idle * 1024 // PAGE
            print(f"  {name:<12}{busy:>12} ({pages[0]:>5}){idle:>18} ({pages[1]:>5})")
    finally:
        stack.close()
    return 0


def _touch_after_pauses() -> dict[float, float]:
    size = TOUCHED_MB << 20
    area = mmap.mmap(-1, size)
    try:
        offsets = range(0, size, PAGE)
        for offset in offsets:  # fault every page in first
            area[offset] = 1
        out: dict[float, float] = {}
        for pause in PAUSES_S:
            rounds = []
            for _ in range(3):
                time.sleep(pause)
                start = time.perf_counter()
                for offset in offsets:
                    area[offset] = 2
                rounds.append((time.perf_counter() - start) * 1e6 / len(offsets))
            out[pause] = statistics.median(rounds)
        return out
    finally:
        area.close()


def _touched(proc: Proc, size_kb: int, rounds: int) -> tuple[int, int]:
    """(KB touched from a request's send to its first byte, KB touched in as long a window
    with no request), medians."""
    c = claude_call(size_kb, True)
    conn = SyncConnection(proc.port)
    try:
        for _ in range(5):  # warm-up
            call(conn, c)
        busy, idle = [], []
        for _ in range(rounds):
            time.sleep(0.1)
            _clear_refs(proc.pid)
            start = time.perf_counter()
            conn.send(c)
            _, fields = conn.head()
            conn.wait_for(b"data:")
            time.sleep(0.02)
            busy.append(_private_referenced_kb(proc.pid))
            window = time.perf_counter() - start
            conn.body(fields, None)
            time.sleep(0.5)  # the stream's last event has come and gone
            _clear_refs(proc.pid)
            time.sleep(window)
            idle.append(_private_referenced_kb(proc.pid))
        return int(statistics.median(busy)), int(statistics.median(idle))
    finally:
        conn.close()


def _clear_refs(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as out:
        out.write("1")


_MAPPING = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(\S*)")


def _private_referenced_kb(pid: int) -> int:
    total, counted = 0, False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            if match := _MAPPING.match(line):
                counted = match.group(1) in PRIVATE
            elif counted and line.startswith("Referenced:"):
                total += int(line.split()[1])
    return total


if __name__ == "__main__":
    raise SystemExit(main())
