"""CPU per request of the HTTP server alone: hypercorn (serve_asgi) vs cal/http1 (serve_http1).

Both serve the same trivial ASGI app (read the body, answer a small JSON) in a process of their
own; this process is the load: N keep-alive connections (default 8) each sending small POSTs back
to back. Rounds alternate between the servers (hypercorn, http1, hypercorn, …) so both see the
same machine; each server's CPU time (user + system, psutil) over its rounds is divided by the
requests it answered. The app's own work is the same on both sides, so the difference is the
servers' own cost.

Usage: python tests/bench/bench_server.py [--requests 2000] [--connections 8] [--rounds 3]
       (--serve hypercorn|http1 is the server side, started by the script itself)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import trio

ROOT = Path(__file__).resolve().parents[2]
SERVERS = ("hypercorn", "http1")
REQUEST_BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
ANSWER = b'{"id":"x","content":[{"type":"text","text":"hello"}],"usage":{"output_tokens":1}}'


async def trivial_app(scope: Any, receive: Any, send: Any) -> None:
    """Reads the body, answers 200 with a small JSON body (lifespan: acknowledged)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


async def serve(kind: str) -> None:
    """The server side: serve the trivial app on a free port, print it, stop at EOF on stdin."""
    from cal.serve import serve_asgi, serve_http1

    server = serve_http1 if kind == "http1" else serve_asgi
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(server, trivial_app, "127.0.0.1", 0, stop)
        print(port, flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)
        stop.set()


async def one_connection(port: int, count: int) -> None:
    """`count` POSTs on one keep-alive connection, each answer read in full before the next."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    request = (
        b"POST /v1/messages HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % len(REQUEST_BODY) + REQUEST_BODY
    )
    buffer = b""
    async with stream:
        for _ in range(count):
            await stream.send_all(request)
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                buffer += await stream.receive_some(65536)
            head = buffer[:end].lower()
            at = head.index(b"content-length:") + 15
            length = int(head[at : head.index(b"\r\n", at) if b"\r\n" in head[at:] else None])
            need = end + 4 + length
            while len(buffer) < need:
                buffer += await stream.receive_some(65536)
            assert head.startswith(b"http/1.1 200"), head
            buffer = buffer[need:]


async def load(port: int, requests: int, connections: int) -> float:
    """Send `requests` over `connections`; the wall time it took."""
    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(connections):
            share = requests // connections + (1 if i < requests % connections else 0)
            nursery.start_soon(one_connection, port, share)
    return time.perf_counter() - started


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=SERVERS)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.serve:
        trio.run(serve, args.serve)
        return
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    processes: dict[str, subprocess.Popen[str]] = {}
    ports: dict[str, int] = {}
    for kind in SERVERS:
        processes[kind] = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert processes[kind].stdout is not None
        ports[kind] = int(processes[kind].stdout.readline())
    cpu = dict.fromkeys(SERVERS, 0.0)
    wall = dict.fromkeys(SERVERS, 0.0)
    try:
        for kind in SERVERS:  # warm up: imports, first connections
            trio.run(load, ports[kind], 200, args.connections)
        for _ in range(args.rounds):
            for kind in SERVERS:
                process = psutil.Process(processes[kind].pid)
                before = cpu_seconds(process)
                wall[kind] += trio.run(load, ports[kind], args.requests, args.connections)
                cpu[kind] += cpu_seconds(process) - before
    finally:
        for process in processes.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait(10)
    total = args.requests * args.rounds
    print(f"{total} requests per server, {args.connections} connections, {args.rounds} rounds")
    for kind in SERVERS:
        print(
            f"{kind:>9}: {cpu[kind] / total * 1000:.3f} ms CPU per request,"
            f" {total / wall[kind]:.0f} req/s"
        )


if __name__ == "__main__":
    main()
