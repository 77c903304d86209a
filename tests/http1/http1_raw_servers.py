"""Tiny hand-written HTTP servers for the client's tests: each says exactly what goes on the wire.

`raw_server(handler)` serves on 127.0.0.1:0 with one task per connection; the handler gets a
RawConnection (read a request, send bytes, close) and the server counts connections accepted
and keeps every request head it read.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from cal.http1.wire import body_framing, parse_request_head


class RawConnection:
    def __init__(self, stream: trio.abc.Stream, server: RawServer) -> None:
        self.stream, self.server = stream, server
        self.buffer = b""

    async def read_request(self) -> bytes | None:
        """The next request's head (its body read and dropped); None when the client closed."""
        while b"\r\n\r\n" not in self.buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        _, _, _, headers = parse_request_head(head)
        kind, length = body_framing(headers, is_response=False)
        if kind == "length" and length:
            while len(self.buffer) < length:
                self.buffer += await self.stream.receive_some(65536)
            self.server.bodies.append(self.buffer[:length])
            self.buffer = self.buffer[length:]
        self.server.heads.append(head)
        return head

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def close(self) -> None:
        await trio.aclose_forcefully(self.stream)


Handler = Callable[[RawConnection], Awaitable[None]]


class RawServer:
    def __init__(self, port: int, scheme: str = "http") -> None:
        self.port = port
        self.url = f"{scheme}://127.0.0.1:{port}"
        self.accepted = 0
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []


@asynccontextmanager
async def raw_server(
    handler: Handler, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        port = listeners[0].socket.getsockname()[1]
        server = RawServer(port, "https" if ssl_context else "http")

        async def serve_one(stream: trio.abc.Stream) -> None:
            server.accepted += 1
            connection = RawConnection(stream, server)
            try:
                await handler(connection)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            finally:
                await trio.aclose_forcefully(stream)

        async def accept_loop(task_status: trio.TaskStatus[None]) -> None:
            listener = listeners[0]
            task_status.started()
            async with trio.open_nursery() as connections:
                while True:
                    tcp = await listener.accept()
                    if ssl_context is None:
                        connections.start_soon(serve_one, tcp)
                    else:
                        stream = trio.SSLStream(tcp, ssl_context, server_side=True)
                        connections.start_soon(serve_one, stream)

        await nursery.start(accept_loop)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()


def answer(body: bytes = b"ok", *headers: bytes, status: bytes = b"200 OK") -> bytes:
    """A whole response with a content-length."""
    extra = b"".join(h + b"\r\n" for h in headers)
    return b"HTTP/1.1 %b\r\ncontent-length: %d\r\n%b\r\n%b" % (status, len(body), extra, body)


def keep_answering(response: bytes) -> Handler:
    """A handler that answers every request on the connection with `response`."""

    async def handler(connection: RawConnection) -> None:
        while await connection.read_request() is not None:
            await connection.send(response)

    return handler
