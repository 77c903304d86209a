"""The floor: a minimal trio TCP byte pipe between a client and the mock (no HTTP parsing).

Usage: python tests/bench/pipe.py LISTEN_PORT TARGET_PORT

Each accepted connection gets its own upstream connection; bytes are copied both ways as they
arrive (TCP_NODELAY on both sides, trio's default). Whatever the gateway adds beyond this is
HTTP, routing, translation and capture.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from functools import partial

import trio


async def _copy(src: trio.SocketStream, dst: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        while data := await src.receive_some(65536):
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()


async def _relay(client: trio.SocketStream, upstream: trio.SocketStream, _target: int) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_copy, client, upstream, nursery.cancel_scope)
        nursery.start_soon(_copy, upstream, client, nursery.cancel_scope)


Relay = Callable[[trio.SocketStream, trio.SocketStream, int], Awaitable[None]]
"""(the client's connection, its own connection to the target, the target's port)"""


async def _connect(relay: Relay, target: int, client: trio.SocketStream) -> None:
    async with client:
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", target)
        except OSError:
            return
        async with upstream:
            await relay(client, upstream, target)


def run(relay: Relay, name: str) -> None:
    """Serve 127.0.0.1:LISTEN_PORT (the command line's first number) until interrupted, giving
    each connection one of its own to 127.0.0.1:TARGET_PORT (the second) and both to `relay`;
    `{name} ready` tells the suite it listens."""
    listen, target = int(sys.argv[1]), int(sys.argv[2])

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            handler = partial(_connect, relay, target)
            await nursery.start(partial(trio.serve_tcp, handler, listen, host="127.0.0.1"))
            print(f"{name} ready 127.0.0.1:{listen} -> 127.0.0.1:{target}", flush=True)

    try:
        trio.run(main)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    run(_relay, "pipe")
