"""One client connection to an origin: open (TCP, TLS), write a request, read heads and bytes.

A Connection holds the stream, its socket and the bytes received but not consumed yet. It can
be closed synchronously (the socket is closed under the stream), so a cancelled request never
has to await to get rid of it. Stream errors come out as the client's own error classes.
"""

from __future__ import annotations

import ssl

import trio

from cal.http1.errors import ConnectError, ConnectTimeout, ReadError, RemoteProtocolError
from cal.http1.wire import MAX_HEAD_BYTES

RECEIVE_BYTES = 65536
_END = b"\r\n\r\n"


class NothingReceived(ReadError):
    """The connection broke before a single byte of the response: a request worth retrying."""


class Connection:
    """A stream to one origin, the socket under it, and what was received and not consumed."""

    __slots__ = ("buffer", "idle_since", "sock", "stream")

    def __init__(self, stream: trio.abc.Stream, sock: trio.socket.SocketType) -> None:
        self.stream = stream
        self.sock = sock
        self.buffer = bytearray()
        self.idle_since = 0.0

    async def send(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise NothingReceived(f"the connection broke while sending: {exc!r}") from exc

    async def receive(self) -> bytes:
        """The next bytes from the peer; b"" when it closed."""
        try:
            data = await self.stream.receive_some(RECEIVE_BYTES)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise ReadError(f"the connection broke: {exc!r}") from exc
        return data if type(data) is bytes else bytes(data)

    async def read_head(self) -> bytes:
        """The next message head (without its blank line); the bytes after it stay in `buffer`."""
        buffer = self.buffer
        start = 0
        while (end := buffer.find(_END, start)) < 0:
            if len(buffer) > MAX_HEAD_BYTES:
                raise RemoteProtocolError("the response head is too large")
            start = max(0, len(buffer) - 3)
            try:
                data = await self.stream.receive_some(RECEIVE_BYTES)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                if buffer:
                    raise ReadError(f"the connection broke in a response head: {exc!r}") from exc
                raise NothingReceived(f"the connection broke: {exc!r}") from exc
            if not data:
                if buffer:
                    raise ReadError("the upstream closed the connection in a response head")
                raise NothingReceived("the upstream closed the connection without answering")
            buffer += data
        head = bytes(buffer[:end])
        del buffer[: end + 4]
        return head

    def looks_closed(self) -> bool:
        """Whether an idle connection has something to read: the peer's close (or junk)."""
        if self.buffer:
            return True
        try:
            return self.sock.is_readable()
        except OSError:
            return True

    def close(self) -> None:
        """Close at once (no await): the socket under the stream, TLS or not."""
        self.sock.close()


async def open_connection(
    host: str, port: int, ssl_context: ssl.SSLContext | None, timeout_s: float
) -> Connection:
    """A connected (and, with a context, TLS-handshaken) Connection within `timeout_s`."""
    tcp: trio.SocketStream | None = None
    try:
        with trio.fail_after(timeout_s):
            tcp = await trio.open_tcp_stream(host, port)
            if ssl_context is None:
                return Connection(tcp, tcp.socket)
            tls = trio.SSLStream(tcp, ssl_context, server_hostname=host, https_compatible=True)
            await tls.do_handshake()
            return Connection(tls, tcp.socket)
    except trio.TooSlowError as exc:
        _close(tcp)
        raise ConnectTimeout(f"timed out connecting to {host}:{port} ({timeout_s:g} s)") from exc
    except (OSError, trio.BrokenResourceError) as exc:
        _close(tcp)
        cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else exc
        raise ConnectError(f"could not connect to {host}:{port}: {cause or exc!r}") from exc
    except BaseException:
        _close(tcp)
        raise


def _close(tcp: trio.SocketStream | None) -> None:
    if tcp is not None:
        tcp.socket.close()
