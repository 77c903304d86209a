"""A lean HTTP/1.1 client on trio: keep-alive pools per origin and responses read as they arrive.

`HttpClient.send` writes the request and returns once the response head arrived (1xx skipped);
the body is read through `Response.iter_bytes()` or `read()`, decoded from its content-encoding.
`Response.aclose()` returns the connection to its pool only when the body was read to its end
and neither side asked to close; anything else (a cancelled read included) closes it. A reused
connection that fails before any response byte arrived is retried once on a fresh one. No task
is spawned per request, and the client adds only `host` and `content-length` to the headers.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote, urlsplit

import certifi

from cal.http1.connection import Connection, NothingReceived
from cal.http1.decoding import BodyDecoder, body_decoder
from cal.http1.errors import (
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HttpError,
    ReadError,
    RemoteProtocolError,
)
from cal.http1.pool import OriginPool
from cal.http1.wire import (
    ChunkedDecoder,
    ProtocolError,
    body_framing,
    encode_request_head,
    parse_response_head,
)

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "DecodingError",
    "HttpClient",
    "HttpError",
    "ReadError",
    "RemoteProtocolError",
    "Response",
    "default_ssl_context",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_CACHE_SIZE = 256
_TARGET_SAFE = "/?#[]@!$&'()*+,;=:%-._~"
"""What stays as it is in a request target we percent-encode (reserved characters and `%`)."""
_NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})


def default_ssl_context() -> ssl.SSLContext:
    """Certificate checks against certifi's CA bundle, HTTP/1.1 by ALPN."""
    context = ssl.create_default_context(cafile=certifi.where())
    context.set_alpn_protocols(["http/1.1"])
    return context


class _Target:
    """What a URL says about where a request goes."""

    __slots__ = ("host", "host_header", "key", "path", "port", "tls")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ConnectError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        try:
            port = parts.port
        except ValueError as exc:
            raise ConnectError(f"bad port in {url!r}") from exc
        self.port = port or _DEFAULT_PORTS[parts.scheme]
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = port is None or port == _DEFAULT_PORTS[parts.scheme]
        authority = host if default else f"{host}:{port}"
        self.host_header = (
            authority.encode("idna") if not authority.isascii() else authority.encode()
        )
        self.key = (self.tls, self.host, self.port)
        path = parts.path or "/"
        target = path + "?" + parts.query if parts.query else path
        if not target.isascii() or " " in target:
            target = quote(target, safe=_TARGET_SAFE)
        self.path = target.encode("ascii")


class Response:
    """A response whose head arrived; its body is read on demand."""

    __slots__ = (
        "_chunked",
        "_connection",
        "_decoder",
        "_done",
        "_keep",
        "_pool",
        "_remaining",
        "headers",
        "http_version",
        "status",
    )

    def __init__(
        self,
        status: int,
        http_version: str,
        headers: list[tuple[str, str]],
        connection: Connection,
        pool: OriginPool,
        framing: tuple[str, int | None],
        *,
        keep_alive: bool,
    ) -> None:
        self.status = status
        self.http_version = http_version
        self.headers = headers
        self._connection: Connection | None = connection
        self._pool = pool
        self._keep = keep_alive and http_version == "1.1" and status != 101
        self._done = False
        self._remaining = -1  # -1: until the connection closes
        self._chunked: ChunkedDecoder | None = None
        self._decoder: BodyDecoder | None = None
        kind, length = framing
        if kind == "length" and length is not None:
            self._remaining = length
            self._done = length == 0
        elif kind == "chunked":
            self._chunked = ChunkedDecoder()
        elif kind == "none":
            self._done = True
        else:
            self._keep = False
        encodings = [v for k, v in headers if k == "content-encoding"]
        if encodings and not self._done:
            self._decoder = body_decoder(encodings)
        if self._done:
            self.close()  # nothing to read: the connection is free at once

    def iter_bytes(self) -> AsyncIterator[bytes]:
        """The decoded body, piece by piece as it arrives."""
        return _BodyIterator(self)

    async def read(self) -> bytes:
        """The whole decoded body."""
        parts = [piece async for piece in self.iter_bytes()]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_buffered(self) -> bytes | None:
        """Before any read: the whole decoded body when it all came with the head (a small
        answer usually does), without waiting or any per-piece work; else None."""
        connection = self._connection
        if self._done:
            return b""
        remaining = self._remaining
        if connection is None or self._chunked is not None or remaining < 0:
            return None
        buffer = connection.buffer
        if len(buffer) < remaining:
            return None
        data = bytes(buffer[:remaining])
        del buffer[:remaining]
        if buffer:  # more than the body: junk or a pipelined answer
            self._keep = False
        self._remaining = 0
        self._done = True
        if self._decoder is not None:
            data = self._decoder.decode(data) + self._decoder.flush()
        self.close()
        return data

    async def aclose(self) -> None:
        """Give the connection back (body read to its end, keep-alive) or close it."""
        self.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._done and self._keep and not connection.buffer:
            self._pool.release(connection)
        else:
            self._pool.discard(connection)

    async def next_piece(self) -> bytes | None:
        """The next non-empty decoded piece of the body, None at its end."""
        piece = self.piece_at_hand()
        while piece is None and not self._done:  # nothing buffered is left: receive
            piece = self._decoded(await self._receive_raw()) or None
        return piece

    def piece_at_hand(self) -> bytes | None:
        """The next non-empty decoded piece when the bytes received so far hold one, without
        waiting (so without a cancel scope around the call); None when it takes a wait (or the
        body ended: then `next_piece` says so at once)."""
        while not self._done:
            raw = self._raw_at_hand()
            if raw is None:
                return None
            piece = self._decoded(raw)
            if piece:
                return piece
        return None

    def _raw_at_hand(self) -> bytes | None:
        """The body bytes (framing undone) of what is buffered; None when nothing is."""
        connection = self._connection
        if connection is None:
            raise ReadError("the response was closed")
        buffer = connection.buffer
        if not buffer:
            return None
        data = bytes(buffer)
        buffer.clear()
        return self._unframed(data)

    async def _receive_raw(self) -> bytes:
        """The body bytes (framing undone) of the next bytes off the connection."""
        connection = self._connection
        if connection is None:
            raise ReadError("the response was closed")
        data = await connection.receive()
        if data:
            return self._unframed(data)
        if self._chunked is not None:
            raise ReadError("the upstream closed the connection inside a chunked body")
        if self._remaining >= 0:
            raise ReadError(f"the upstream closed the connection {self._remaining} bytes short")
        self._done, self._keep = True, False
        return b""

    def _unframed(self, data: bytes) -> bytes:
        chunked = self._chunked
        if chunked is not None:
            try:
                pieces = chunked.feed(data)
            except ProtocolError as exc:
                raise RemoteProtocolError(str(exc)) from exc
            if chunked.done:
                self._done = True
                if chunked.rest:
                    self._keep = False
            return pieces[0] if len(pieces) == 1 else b"".join(pieces)
        remaining = self._remaining
        if remaining < 0:
            return data
        if len(data) > remaining:  # more than the body: junk or a pipelined answer
            data = data[:remaining]
            self._keep = False
        self._remaining = remaining = remaining - len(data)
        self._done = remaining == 0
        return data

    def _decoded(self, raw: bytes) -> bytes:
        if self._decoder is not None:
            raw = self._decoder.decode(raw)
            if self._done:
                raw += self._decoder.flush()
        if self._done:
            self.close()
        return raw


class _BodyIterator:
    __slots__ = ("_response",)

    def __init__(self, response: Response) -> None:
        self._response = response

    def __aiter__(self) -> _BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        piece = await self._response.next_piece()
        if piece is None:
            raise StopAsyncIteration
        return piece


class HttpClient:
    """Keep-alive connection pools, one per origin (scheme, host, port)."""

    def __init__(
        self,
        max_connections: int = 128,
        keepalive_expiry_s: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.keepalive_expiry_s = keepalive_expiry_s
        self._ssl_context = ssl_context
        self._pools: dict[tuple[bool, str, int], OriginPool] = {}
        self._targets: dict[str, _Target] = {}

    async def send(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        connect_timeout_s: float,
        waiting: Callable[[], None] | None = None,
    ) -> Response:
        """Send a request; returns once the response head arrived (1xx skipped).

        `waiting` is called when the call starts to wait on the network: before it waits for a
        connection (a new one, or a free one), and once the request is written. So it may be
        called more than once; whatever it does must not delay the request.
        """
        target = self._target(url)
        pool = self._pool(target)
        request, keep = _encode_request(method, target, headers, body)
        verb = method.encode("ascii")
        connection, reused = await pool.acquire(connect_timeout_s, waiting=waiting)
        try:
            return await _exchange(connection, pool, request, verb, keep, waiting)
        except NothingReceived:
            if not reused:
                raise
        # the server closed a kept-alive connection before reading the request: once more, fresh
        connection, _ = await pool.acquire(connect_timeout_s, fresh=True, waiting=waiting)
        return await _exchange(connection, pool, request, verb, keep, waiting)

    async def aclose(self) -> None:
        """Close the idle connections; ones in use close when their responses do."""
        for pool in self._pools.values():
            pool.close_idle()

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _URL_CACHE_SIZE:
                self._targets.clear()
            target = self._targets[url] = _Target(url)
        return target

    def _pool(self, target: _Target) -> OriginPool:
        pool = self._pools.get(target.key)
        if pool is None:
            context = None
            if target.tls:
                if self._ssl_context is None:
                    self._ssl_context = default_ssl_context()
                context = self._ssl_context
            pool = OriginPool(
                target.host, target.port, context, self.max_connections, self.keepalive_expiry_s
            )
            self._pools[target.key] = pool
        return pool


def _encode_request(
    method: str, target: _Target, headers: list[tuple[str, str]], body: bytes
) -> tuple[bytes, bool]:
    """(the request's bytes, whether it lets the connection stay open)."""
    fields = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    names = {k for k, _ in fields}
    keep_alive = b"connection" not in names or not any(
        k == b"connection" and b"close" in v.lower() for k, v in fields
    )
    if b"host" not in names:
        fields.insert(0, (b"host", target.host_header))
    if b"content-length" not in names and (body or method not in _NO_BODY_METHODS):
        fields.append((b"content-length", b"%d" % len(body)))
    try:
        head = encode_request_head(method.encode("ascii"), target.path, fields)
    except ProtocolError as exc:
        raise ConnectError(f"the request cannot be sent: {exc}") from exc
    return head + body, keep_alive


async def _exchange(
    connection: Connection,
    pool: OriginPool,
    request: bytes,
    method: bytes,
    keep_alive: bool,
    sent: Callable[[], None] | None,
) -> Response:
    """Write the request, call `sent`, and read the response head; the connection is closed on
    any failure."""
    try:
        await connection.send(request)
        if sent is not None:
            sent()
        while True:
            head = await connection.read_head()
            try:
                status, _, raw_headers = parse_response_head(head)
                framing = body_framing(
                    raw_headers, is_response=True, status=status, request_method=method
                )
            except ProtocolError as exc:
                raise RemoteProtocolError(f"malformed response head: {exc}") from exc
            if not 100 <= status < 200 or status == 101:
                break
        version = head[5:8].decode("ascii")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw_headers]
        keep = not any(k == "connection" and "close" in v.lower() for k, v in headers)
        return Response(
            status, version, headers, connection, pool, framing, keep_alive=keep and keep_alive
        )
    except BaseException:
        pool.discard(connection)
        raise
