"""One accepted socket with its receive buffer: read a request head, read more, write.

The server reads only when it needs bytes (a head, or a body the app asked for), so at most one
`receive_some` worth beyond that sits in `buffer` (pipelined requests wait there). A peer that
closes or resets marks the stream `gone`; writing then raises ClientDisconnected, the OSError
subclass ASGI asks a server to raise from `send` once the client has left.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import trio

RECEIVE_BYTES = 65536
TAKE_AHEAD = 4
"""`take` allocates at most this many times the bytes already received."""
_END = b"\r\n\r\n"


class ClientDisconnected(OSError):
    """The client went away: raised by `send` (ASGI's server-specific OSError)."""


def client_left(exc: BaseException) -> bool:
    """Whether `exc` is ClientDisconnected, or a group of nothing else (from an app's nursery)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(client_left(inner) for inner in exc.exceptions)
    return isinstance(exc, ClientDisconnected)


class HeadTooLarge(Exception):
    """No end of the request head within the limit (answered with 431)."""


class BufferedStream:
    """A SocketStream plus the bytes received and not consumed yet."""

    __slots__ = ("buffer", "gone", "stream")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.gone = False
        # trio sets TCP_NODELAY on SocketStreams already; a stream must not wait for Nagle
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)

    def addresses(self) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
        """(client, server) as ASGI wants them: (host, port), or None where unknown."""
        sock = self.stream.socket
        return _address(sock.getpeername), _address(sock.getsockname)

    async def fill(self, max_bytes: int = RECEIVE_BYTES) -> bool:
        """Append what the socket has to `buffer`; False (and `gone`) at EOF or reset."""
        try:
            data = await self.stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self.gone = True
            return False
        self.buffer += data
        return True

    async def take(self, size: int) -> bytes | None:
        """Exactly `size` bytes: the buffered ones, then the rest straight off the socket into
        one buffer (no per-read copies); None (and `gone`) when the peer leaves first. The buffer
        is never more than TAKE_AHEAD times what has arrived, so a client that announces a large
        body and sends little holds little memory."""
        buffer = self.buffer
        if len(buffer) >= size:
            data = bytes(buffer[:size])
            del buffer[:size]
            return data
        got = len(buffer)
        out = bytearray(min(size, TAKE_AHEAD * max(got, RECEIVE_BYTES)))
        out[:got] = buffer
        buffer.clear()
        sock = self.stream.socket
        while got < size:
            if got == len(out):  # full: grow, still within TAKE_AHEAD times what came
                out.extend(bytes(min(size, TAKE_AHEAD * got) - got))
            try:
                count = await sock.recv_into(memoryview(out)[got:])
            except (OSError, trio.ClosedResourceError):
                count = 0
            if not count:
                self.gone = True
                return None
            got += count
        return bytes(out)

    async def write(self, data: bytes) -> None:
        """Send all of `data`; ClientDisconnected when the client has gone."""
        if self.gone:
            raise ClientDisconnected("the client disconnected")
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.gone = True
            raise ClientDisconnected("the client disconnected") from exc

    async def read_head(self, scope: trio.CancelScope, head_s: float, max_bytes: int) -> bytes:
        """The next request head (without its blank line); b"" when there is none.

        b"" when the client closes first or `scope` (the idle deadline, or a stop) expires; once
        the head has begun, it must be complete within `head_s`. HeadTooLarge past `max_bytes`.
        Empty lines before a request line are skipped (RFC 9112 §2.2).
        """
        buffer = self.buffer
        scanned = 0
        with scope:
            while True:
                while buffer[:2] == b"\r\n":
                    del buffer[:2]
                if buffer:
                    end = buffer.find(_END, max(0, scanned - 3))
                    if end >= 0:
                        head = bytes(buffer[:end])
                        del buffer[: end + 4]
                        return head
                    if len(buffer) > max_bytes:
                        raise HeadTooLarge
                    if not scanned:
                        scope.deadline = min(scope.deadline, trio.current_time() + head_s)
                    scanned = len(buffer)
                if not await self.fill():
                    return b""
        return b""  # timed out or stopped

    async def aclose(self) -> None:
        """Close the socket (never blocks for long: trio closes TCP sockets at once)."""
        with trio.CancelScope(shield=True):
            await self.stream.aclose()


def _address(get: Callable[[], Any]) -> tuple[str, int] | None:
    try:
        address = get()
    except OSError:
        return None
    if isinstance(address, tuple) and len(address) >= 2:
        return str(address[0]), int(address[1])
    return None
