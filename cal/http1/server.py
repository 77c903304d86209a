"""A lean HTTP/1.1 server on trio for ASGI apps (http and websocket scopes, no lifespan).

One task per connection, no task per request: the connection reads a head, builds the ASGI scope,
awaits the app with an HttpExchange's receive/send, and loops while keep-alive holds. Pipelined
requests wait in the buffer and are served one at a time. HTTP/1.0 and `connection: close` end
the connection after the response; a malformed head gets 400, an oversized one 431, both close.
A `GET` with `upgrade: websocket` is handed to cal/http1/websocket.py for the rest of the
connection.

Stop: when `stop` is set the listeners close, idle connections are closed, requests in flight get
`graceful_timeout` seconds, then whatever is left is cancelled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from functools import partial
from typing import Any
from urllib.parse import unquote

import trio

from cal.http1.exchange import Headers, HttpExchange, plain_response
from cal.http1.stream import BufferedStream, ClientDisconnected, HeadTooLarge, client_left
from cal.http1.websocket import serve_websocket
from cal.http1.wire import MAX_HEAD_BYTES, ProtocolError, body_framing, parse_request_head

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

KEEP_ALIVE_S = 75.0
"""How long an idle keep-alive connection waits for its next request."""
HEAD_TIMEOUT_S = 20.0
"""How long a started request head may take to arrive in full."""
DISCARD_BYTES = 1 << 20
"""A body the app did not read is drained up to this size to keep the connection; else it closes."""
DISCARD_S = 1.0
LINGER_S = 1.0
"""After refusing a request, how long unread bytes are drained so the answer is not reset away."""


class HttpDate:
    """The `date` header value, formatted once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True).encode("ascii")
        return self._value


class Http1Server:
    """Serves one app; knows its open connections so a stop can close the idle ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.asgi = {"version": "3.0", "spec_version": "2.3"}
        self.date = HttpDate()
        self.stopping = False
        self.connections: set[_Connection] = set()
        self.all_closed = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one accepted connection to its end; never raises (a bug is logged)."""
        connection = _Connection(self, BufferedStream(stream))
        self.connections.add(connection)
        try:
            await connection.run()
        except Exception:
            log.exception("http1: connection failed")
        finally:
            self.connections.discard(connection)
            await connection.io.aclose()
            if self.stopping and not self.connections:
                self.all_closed.set()

    def stop(self) -> None:
        """No more requests: idle connections close now, busy ones after their response."""
        self.stopping = True
        for connection in self.connections:
            connection.wind_down()
        if not self.connections:
            self.all_closed.set()


async def serve_listeners(
    app: ASGIApp,
    listeners: list[trio.SocketListener],
    stop: trio.Event,
    *,
    graceful_timeout: float,
) -> None:
    """Serve `app` on `listeners` (already listening) until `stop` is set, then wind down."""
    server = Http1Server(app)
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            accepting.start_soon(
                partial(trio.serve_listeners, server.handle, listeners, handler_nursery=connections)
            )
            await stop.wait()
            accepting.cancel_scope.cancel()
        server.stop()
        with trio.move_on_after(graceful_timeout):
            await server.all_closed.wait()
        connections.cancel_scope.cancel()


class _Connection:
    """One client connection: requests in order until keep-alive ends."""

    __slots__ = ("_exchange", "_idle_scope", "client", "io", "local", "server")

    def __init__(self, server: Http1Server, io: BufferedStream) -> None:
        self.server, self.io = server, io
        self.client, self.local = io.addresses()
        self._idle_scope: trio.CancelScope | None = None
        self._exchange: HttpExchange | None = None

    def wind_down(self) -> None:
        """Close now when waiting for a request; else say `connection: close` if still possible."""
        if self._idle_scope is not None:
            self._idle_scope.cancel()
        elif self._exchange is not None:
            self._exchange.keep_alive = False

    async def run(self) -> None:
        server, io = self.server, self.io
        while not server.stopping:
            self._idle_scope = trio.CancelScope(deadline=trio.current_time() + KEEP_ALIVE_S)
            try:
                head = await io.read_head(self._idle_scope, HEAD_TIMEOUT_S, MAX_HEAD_BYTES)
            except HeadTooLarge:
                await self._refuse(431, b"request head too large")
                return
            finally:
                self._idle_scope = None
            if not head or not await self._serve(head):
                return

    async def _refuse(self, status: int, text: bytes) -> None:
        """Answer with `status` and end the connection, reading what the client still sends for
        a moment: closing with unread bytes would reset the connection under the answer."""
        try:
            await self.io.write(plain_response(status, self.server.date(), text))
            await self.io.stream.send_eof()
        except (ClientDisconnected, trio.BrokenResourceError, trio.ClosedResourceError):
            return
        with trio.move_on_after(LINGER_S):
            while await self.io.fill():
                self.io.buffer.clear()

    async def _serve(self, head: bytes) -> bool:
        """One request; True when the connection can take another."""
        try:
            method_bytes, target, version, headers = parse_request_head(head)
            framing, length = body_framing(headers)
        except ProtocolError as exc:
            await self._refuse(400, str(exc).encode("utf-8", "replace"))
            return False
        if version not in _VERSIONS:
            await self._refuse(505, b"HTTP/1.1 only")
            return False
        method = method_bytes.decode("ascii")
        keep_alive = http11 = version == b"HTTP/1.1"
        expect_continue = upgrade = False
        for name, value in headers:
            if name == b"connection":
                if b"close" in value.lower():
                    keep_alive = False
            elif name == b"expect":
                expect_continue = value.lower() == b"100-continue"
            elif name == b"upgrade":
                upgrade = b"websocket" in value.lower()
        scope = self._scope(method, target, _VERSIONS[version], headers)
        if upgrade and method == "GET":
            scope["type"] = "websocket"
            await serve_websocket(self.server.app, self.io, head, scope)
            return False
        exchange = HttpExchange(
            self.io,
            self.server.date,
            http11=http11,
            head_only=method == "HEAD",
            keep_alive=keep_alive and not self.server.stopping,
            length=length or 0,
            chunked=framing == "chunked",
            expect_continue=expect_continue,
        )
        self._exchange = exchange
        try:
            await self.server.app(scope, exchange.receive, exchange.send)
        except ClientDisconnected:
            return False
        except Exception as exc:
            if self.io.gone or client_left(exc):
                log.debug("http1: app ended by the client leaving", exc_info=True)
                return False
            log.exception("http1: app failed on %s %s", method, scope["path"])
            if not exchange.head_written:
                await self._refuse(500, b"internal server error")
            return False
        finally:
            self._exchange = None
        if not exchange.head_written:
            if self.io.gone:  # the client left before an answer: nothing to answer, no fault
                return False
            log.error("http1: app sent no response to %s %s", method, scope["path"])
            await self._refuse(500, b"no response")
            return False
        if not exchange.complete or not exchange.keep_alive or self.server.stopping:
            return False
        return exchange.body_done or await exchange.discard_body(DISCARD_BYTES, DISCARD_S)

    def _scope(self, method: str, target: bytes, version: str, headers: Headers) -> Scope:
        raw_path, _, query = target.partition(b"?")
        if not raw_path.startswith(b"/") and raw_path != b"*":
            raw_path = _origin_form(raw_path)
        path = raw_path.decode("latin-1")
        return {
            "type": "http",
            "asgi": self.server.asgi,
            "http_version": version,
            "method": method,
            "scheme": "http",
            "path": unquote(path) if "%" in path else path,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": self.local,
        }


_VERSIONS = {b"HTTP/1.1": "1.1", b"HTTP/1.0": "1.0"}


def _origin_form(target: bytes) -> bytes:
    """The path of an absolute-form target (`http://host/path`), `/` when it has none."""
    _, _, rest = target.partition(b"://")
    slash = rest.find(b"/")
    return rest[slash:] if slash >= 0 else b"/"
