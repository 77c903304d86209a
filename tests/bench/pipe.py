"""The floor: a minimal trio TCP byte pipe between a client and the mock (no HTTP parsing).

Usage: python tests/bench/pipe.py LISTEN_PORT TARGET_PORT

Each accepted connection gets its own upstream connection; bytes are copied both ways as they
arrive (TCP_NODELAY on both sides, trio's default). Whatever the gateway adds beyond this is
HTTP, routing, translation and capture.
"""

from __future__ import annotations

import sys
from functools import partial

import trio


async def _copy(src: trio.SocketStream, dst: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        while data := await src.receive_some(65536):
            await dst.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    done.cancel()


async def _relay(target: int, client: trio.SocketStream) -> None:
    async with client:
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", target)
        except OSError:
            return
        async with upstream, trio.open_nursery() as nursery:
            nursery.start_soon(_copy, client, upstream, nursery.cancel_scope)
            nursery.start_soon(_copy, upstream, client, nursery.cancel_scope)


async def main(listen: int, target: int) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(
            partial(trio.serve_tcp, partial(_relay, target), listen, host="127.0.0.1")
        )
        print(f"pipe ready 127.0.0.1:{listen} -> 127.0.0.1:{target}", flush=True)


if __name__ == "__main__":
    try:
        trio.run(main, int(sys.argv[1]), int(sys.argv[2]))
    except KeyboardInterrupt:
        pass
