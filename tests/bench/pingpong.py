"""How much waking an idle process costs on this machine: a one-byte TCP ping-pong on loopback.

Usage: python tests/bench/pingpong.py [ROUNDS]

A child process echoes each byte back; the parent times the round trip back to back and after
pauses of 1, 5 and 20 ms (scenario 2's pacing). On a VM whose idle vCPUs are descheduled, the
round trip after a pause is several times the back-to-back one, and every process hop a paced
stream's first byte crosses pays it (docs/benchmarks.md, session 3).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import time

PAUSES_S = (0.0, 0.001, 0.005, 0.02)


def _echo(server: socket.socket) -> None:
    conn, _ = server.accept()
    while data := conn.recv(100):
        conn.send(data)


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    child = os.fork()
    if child == 0:
        _echo(server)
        os._exit(0)
    client = socket.create_connection(server.getsockname())
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        for pause in PAUSES_S:
            trips = []
            for _ in range(rounds):
                if pause:
                    time.sleep(pause)
                started = time.perf_counter()
                client.send(b"x")
                client.recv(10)
                trips.append((time.perf_counter() - started) * 1e6)
            p90 = statistics.quantiles(trips, n=10)[-1]
            print(
                f"pause {pause * 1000:4.0f} ms  round trip p50 {statistics.median(trips):6.1f} us"
                f"  p90 {p90:6.1f} us"
            )
    finally:
        client.close()
        os.waitpid(child, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
