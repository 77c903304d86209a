"""Why a request after a pause costs more here, and more through the gateway than through the
floors: memory left untouched for a while is slow to touch again on this machine, and each path
touches a different amount of it per request.

Usage: python tests/bench/footprint.py [--rounds 9] [--size 50]

1. This process maps 32 MB twice, once asking for 2 MB pages (`MADV_HUGEPAGE`, as `cal obs up`
   has its heap: `cal/hugepages.py`), then touches each 4 KB of each area once after
   pauses of 0 to 4 s, the areas taking turns, and prints the µs per 4 KB (median of three
   rounds per pause). On an ordinary machine every pause gives about the same figure.
2. The gateway (capture on), the HTTP floor and the byte pipe, all on 4 KB pages (the gateway
   with `CODE_AGENT_LENS_HUGE_PAGES=false`), each serve short streams whose
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

from cal.hugepages import anon_huge_kb

PAUSES_S = (0.0, 0.05, 0.2, 1.0, 2.0, 4.0)
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
    for pause, (small, huge) in _touch_after_pauses().items():
        print(f"  pause {pause:>4g} s  4 KB pages {small:6.2f}  2 MB pages {huge:6.2f}")
    stack = Stack()
    try:
        mock = stack.mock(chunks=2, interval_ms=400)
        paths = {  # on 4 KB pages, which smaps' Referenced counts one by one
            "gateway": stack.gateway(mock, extra_env={"CODE_AGENT_LENS_HUGE_PAGES": "false"}),
            "http floor": stack.pipe(mock, "http_floor.py", huge_pages=False),
            "pipe": stack.pipe(mock, huge_pages=False),
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


def _touch_after_pauses() -> dict[float, tuple[float, float]]:
    """{pause: (µs per page on 4 KB pages, on 2 MB pages)}, the two areas taking turns."""
    size = TOUCHED_MB << 20
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    small, huge = mmap.mmap(-1, size, flags=flags), mmap.mmap(-1, size, flags=flags)
    try:
        huge.madvise(mmap.MADV_HUGEPAGE)  # THP "madvise" mode: asked for, as cal's heap is
        offsets = range(0, size, PAGE)
        for area in (small, huge):
            for offset in offsets:  # fault every page in first
                area[offset] = 1
        print(f"  ({anon_huge_kb() >> 10} of the {TOUCHED_MB} MB asked for are on 2 MB pages)")
        out: dict[float, tuple[float, float]] = {}
        for pause in PAUSES_S:
            rounds: tuple[list[float], list[float]] = ([], [])
            for _ in range(3):
                for area, got in zip((small, huge), rounds, strict=True):
                    time.sleep(pause)
                    start = time.perf_counter()
                    for offset in offsets:
                        area[offset] = 2
                    got.append((time.perf_counter() - start) * 1e6 / len(offsets))
            out[pause] = (statistics.median(rounds[0]), statistics.median(rounds[1]))
        return out
    finally:
        small.close()
        huge.close()


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
