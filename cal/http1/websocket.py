"""The ASGI websocket scope on an upgraded HTTP/1.1 connection, framed by wsproto.

The handshake, frames, permessage-deflate and the close handshake are wsproto's; this module maps
them to ASGI messages: connect, accept (subprotocol, headers), receive/send of text and bytes,
close, disconnect, and the `websocket.http.response` extension (an HTTP answer instead of the
upgrade). An app that closes or returns before accepting gets a 403. Writes go through one lock,
because pings are answered from `receive` while the app may be sending from another task, and
compressed frames must leave in the order they were compressed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from cal.http1.stream import BufferedStream, ClientDisconnected, client_left

log = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

CLOSE_WAIT_S = 2.0
"""How long the server waits for the client's answer to its close frame."""
ABNORMAL = 1006
BAD_UPGRADE = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


async def serve_websocket(app: ASGIApp, io: BufferedStream, head: bytes, scope: Scope) -> None:
    """Serve the upgrade request `head` (without its blank line; the rest of `io`'s buffer
    follows it) with `app`."""
    ws = WSConnection(ConnectionType.SERVER)
    try:
        ws.receive_data(head + b"\r\n\r\n" + io.buffer)
        io.buffer.clear()
        request = next(iter(ws.events()), None)
    except RemoteProtocolError as exc:
        await _refuse_upgrade(io, ws, exc.event_hint)
        return
    if not isinstance(request, Request):
        await _refuse_upgrade(io, ws, None)
        return
    scope["scheme"] = "ws"
    scope["subprotocols"] = list(request.subprotocols)
    scope["extensions"] = {"websocket.http.response": {}}
    session = WebSocketSession(ws, io)
    try:
        await app(scope, session.receive, session.send)
    except Exception as exc:
        if io.gone or client_left(exc):
            log.debug("http1: websocket app ended by the client leaving", exc_info=True)
            return
        log.exception("http1: websocket app failed on %s", scope["path"])
        await session.end(refuse=500, code=1011)
    else:
        await session.end(refuse=403, code=1000)


async def _refuse_upgrade(io: BufferedStream, ws: WSConnection, hint: Event | None) -> None:
    """wsproto's answer to a bad upgrade (400 or 426), or a plain 400 when it has none."""
    try:
        data = ws.send(hint if isinstance(hint, RejectConnection) else RejectConnection())
    except LocalProtocolError:
        data = BAD_UPGRADE
    try:
        await io.write(data)
    except ClientDisconnected:
        pass


class WebSocketSession:
    """ASGI receive/send for one upgraded connection."""

    def __init__(self, ws: WSConnection, io: BufferedStream) -> None:
        self.ws, self.io = ws, io
        self.accepted = False
        self.responded = False  # an HTTP answer went out instead of the upgrade
        self.disconnect_code: int | None = None
        self._connect_delivered = False
        self._pending: deque[Message] = deque()
        self._parts: list[Any] = []
        self._reject: RejectConnection | None = None
        self._lock = trio.Lock()

    async def receive(self) -> Message:
        if not self._connect_delivered:
            self._connect_delivered = True
            return {"type": "websocket.connect"}
        while not self._pending:
            if self.disconnect_code is not None or self.responded:
                return {"type": "websocket.disconnect", "code": self.disconnect_code or ABNORMAL}
            await self._read()
        return self._pending.popleft()

    async def _read(self) -> None:
        """Read from the socket and turn what wsproto makes of it into pending messages."""
        if not await self.io.fill():
            self.disconnect_code = ABNORMAL
            return
        self.ws.receive_data(bytes(self.io.buffer))
        self.io.buffer.clear()
        for event in self.ws.events():
            await self._on_event(event)

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, (TextMessage, BytesMessage)):
            self._parts.append(event.data)
            if event.message_finished:
                if isinstance(event, TextMessage):
                    message: Message = {"type": "websocket.receive", "text": "".join(self._parts)}
                else:
                    message = {"type": "websocket.receive", "bytes": b"".join(self._parts)}
                self._parts = []
                self._pending.append(message)
        elif isinstance(event, Ping):
            await self._send_event(event.response(), quietly=True)
        elif isinstance(event, CloseConnection):
            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                await self._send_event(event.response(), quietly=True)
            self.disconnect_code = event.code

    async def _send_event(self, event: Event, *, quietly: bool = False) -> None:
        async with self._lock:
            try:
                await self.io.write(self.ws.send(event))
            except ClientDisconnected:
                self.disconnect_code = self.disconnect_code or ABNORMAL
                if not quietly:
                    raise

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "websocket.send":
            if not self.accepted or self.disconnect_code is not None or self._closing():
                raise ClientDisconnected("the websocket is closed")
            text = message.get("text")
            if text is not None:
                await self._send_event(TextMessage(data=text))
            else:
                await self._send_event(BytesMessage(data=message.get("bytes") or b""))
        elif kind == "websocket.accept":
            if self.accepted or self.responded:
                raise RuntimeError("websocket.accept after the handshake was answered")
            accept = AcceptConnection(
                subprotocol=message.get("subprotocol"),
                extra_headers=list(message.get("headers", ())),
                extensions=[PerMessageDeflate()],
            )
            await self._send_event(accept)
            self.accepted = True
        elif kind == "websocket.close":
            await self._close(int(message.get("code", 1000)), message.get("reason") or "")
        elif kind == "websocket.http.response.start":
            if self.accepted or self.responded:
                raise RuntimeError("websocket.http.response.start after the handshake")
            headers = list(message.get("headers", ()))
            self._reject = RejectConnection(int(message["status"]), headers, has_body=True)
        elif kind == "websocket.http.response.body":
            await self._respond_body(message.get("body", b""), message.get("more_body", False))
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} on a websocket")

    def _closing(self) -> bool:
        return self.ws.state is not ConnectionState.OPEN

    async def _close(self, code: int, reason: str) -> None:
        if not self.accepted:
            await self._refuse(403)
        elif self.disconnect_code is None and not self._closing():
            await self._send_event(CloseConnection(code=code, reason=reason), quietly=True)

    async def _refuse(self, status: int) -> None:
        if not self.responded and not self.accepted:
            self.responded = True
            await self._send_event(RejectConnection(status_code=status), quietly=True)

    async def _respond_body(self, body: bytes, more: bool) -> None:
        if self._reject is None:
            raise RuntimeError("websocket.http.response.body before its start")
        if not self.responded:
            self.responded = True
            await self._send_event(self._reject)
        await self._send_event(RejectData(data=body, body_finished=not more))

    async def end(self, *, refuse: int, code: int) -> None:
        """After the app: refuse an upgrade it never answered, else close and await the reply."""
        if not self.accepted:
            await self._refuse(refuse)
            return
        if self.disconnect_code is None and not self._closing():
            await self._send_event(CloseConnection(code=code), quietly=True)
        with trio.move_on_after(CLOSE_WAIT_S):
            while self.disconnect_code is None and self.ws.state is not ConnectionState.CLOSED:
                await self._read()
