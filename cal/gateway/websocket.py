"""Codex's WebSocket mode of the Responses API, served by the gateway (DESIGN §4).

`GET /v1/responses` (or `/{source-tag}/v1/responses`) upgraded to a WebSocket; each client text
frame `{"type":"response.create", …request fields…}` is one turn, answered with the event objects
a POST stream carries, one JSON text frame each. Turns on one socket are served in order.

- When the turn's endpoint speaks openai-responses and its upstream accepts a WebSocket, turns are
  relayed to an upstream socket instead (cal/gateway/websocket_upstream.py): prewarm included,
  frames and events unchanged, each turn recorded as a request with method `WS`.
- Otherwise a prewarm frame (`generate: false`) is answered here, as the real service does: response.created
  and response.completed with no output, and no upstream call. It is recorded as a request.
- A real turn becomes a Responses request body (`type` and `generate` dropped, `stream: true`) and is
  served by the gateway's own HTTP path, in-process, as a synthetic `POST /v1/responses` marked
  `x-cal-transport: websocket` (kept in the record, never sent upstream): endpoint choice, retries,
  failover, translation, capture and telemetry are those of any HTTP request, and each turn is
  recorded as its own request.
- `previous_response_id` naming a response answered on this socket is expanded into the full input
  (that turn's input, then its output items, then the frame's input), because the HTTP upstream
  behind cal keeps no socket state. Codex sends such incremental frames on later turns.
- An HTTP error becomes an `error` frame with `status` and `error.headers`; a stream that ends
  without a terminal event gets an `error` frame too. The socket is never closed silently.
- A client that disconnects mid-turn cancels the upstream call (the synthetic request sees
  `http.disconnect`), and the turn is recorded as client_disconnected.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable

import msgspec
import trio

from cal.capture.model import ErrorInfo
from cal.formats.errors import error_body
from cal.formats.routes import match_route
from cal.gateway.asgi import Message, RawHeaders, Receive, Scope, Send
from cal.gateway.headers import decode_headers, header_value
from cal.gateway.pipeline import GatewayDeps
from cal.gateway.websocket_frames import (
    FrameError,
    SessionState,
    TurnFrame,
    TurnRecorder,
    error_frame,
    http_error_frame,
    parse_frame,
    prewarm_events,
    ws_exchange,
)
from cal.gateway.websocket_upstream import (
    RelayedTurn,
    TurnFailed,
    UpstreamLink,
    UpstreamSockets,
    socket_url,
    upgrade_headers,
)
from cal.routing.model import Endpoint
from cal.routing.resolve import PIN_HEADER, PinError
from cal.sse import SSEDecoder, SSEError

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_TERMINAL = frozenset({"response.completed", "response.failed", "response.incomplete", "error"})
_NOT_FORWARDED = frozenset(
    {b"connection", b"upgrade", b"content-length", b"content-type", b"accept"}
)
_QUEUED_FRAMES = 16
TRANSPORT_HEADER = b"x-cal-transport"
"""Added to a turn's synthetic request, so its record says it came over a WebSocket."""


class WebSocketBridge:
    """Serves Responses WebSocket sessions through the gateway's own HTTP app."""

    def __init__(self, http_app: ASGIApp, deps: GatewayDeps) -> None:
        self.http_app, self.deps = http_app, deps
        self.recorder = TurnRecorder(deps.run_id, deps.sinks)
        self.upstreams = UpstreamSockets()

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One WebSocket connection, from the upgrade to the close."""
        if (await receive())["type"] != "websocket.connect":
            return
        route = match_route("POST", scope["path"])
        if route is None or route.format != "openai-responses" or route.operation != "generate":
            await _deny(scope, send, f"no WebSocket route for {scope['path']}")
            return
        await send({"type": "websocket.accept"})
        frames_in, frames_out = trio.open_memory_channel[bytes](_QUEUED_FRAMES)
        async with trio.open_nursery() as nursery:
            session = _Session(self, scope, send, nursery)
            nursery.start_soon(_read_frames, receive, frames_in, session)
            try:
                async with frames_out:
                    async for data in frames_out:
                        await session.turn(data)
                        if session.gone.is_set():
                            break
            finally:
                await session.close_link()
            nursery.cancel_scope.cancel()


async def _deny(scope: Scope, send: Send, message: str) -> None:
    """Refuse an upgrade: a 404 in the Responses error shape where the server can send one."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008, "reason": message[:100]})
        return
    body = error_body("openai-responses", "not_found", message)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "websocket.http.response.start", "status": 404, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body})


async def _read_frames(
    receive: Receive, frames: trio.MemorySendChannel[bytes], session: _Session
) -> None:
    """Client frames into `frames` until the client goes; then the session learns it."""
    async with frames:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                session.client_left()
                return
            if message["type"] == "websocket.receive":
                data = message.get("bytes") or (message.get("text") or "").encode()
                await frames.send(data)


def http_scope(ws_scope: Scope, body: bytes) -> Scope:
    """The synthetic `POST` scope of one turn: the upgrade's path and headers, minus the socket's."""
    headers: RawHeaders = [
        (k, v)
        for k, v in ws_scope["headers"]
        if k not in _NOT_FORWARDED
        and not k.startswith(b"sec-websocket-")
        and not (k == b"openai-beta" and b"responses_websockets" in v)
    ]
    headers += [
        (TRANSPORT_HEADER, b"websocket"),
        (b"content-type", b"application/json"),
        (b"accept", b"text/event-stream"),
        (b"content-length", b"%d" % len(body)),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": ws_scope.get("http_version", "1.1"),
        "method": "POST",
        "scheme": "https" if ws_scope.get("scheme") == "wss" else "http",
        "path": ws_scope["path"],
        "raw_path": ws_scope.get("raw_path", ws_scope["path"].encode()),
        "query_string": ws_scope.get("query_string", b""),
        "root_path": ws_scope.get("root_path", ""),
        "headers": headers,
        "client": ws_scope.get("client"),
        "server": ws_scope.get("server"),
        "extensions": {},
    }


class _Session:
    """One client socket: its upgrade request, its state across turns, its way out."""

    def __init__(
        self, bridge: WebSocketBridge, scope: Scope, send: Send, nursery: trio.Nursery
    ) -> None:
        self.bridge, self.scope, self._send, self._nursery = bridge, scope, send, nursery
        self.gone = trio.Event()
        self.state = SessionState()
        self._link: UpstreamLink | None = None
        self._relay_scope: trio.CancelScope | None = None

    def client_left(self) -> None:
        """The client closed the socket: stop a relayed turn; an HTTP turn sees a disconnect."""
        self.gone.set()
        if self._relay_scope is not None:
            self._relay_scope.cancel()

    async def send_text(self, data: bytes) -> None:
        """One text frame; trio.ClosedResourceError once the client has gone."""
        if self.gone.is_set():
            raise trio.ClosedResourceError("the WebSocket client disconnected")
        try:
            await self._send({"type": "websocket.send", "text": data.decode()})
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            self.gone.set()
            raise trio.ClosedResourceError("the WebSocket client disconnected") from None

    async def send_quietly(self, data: bytes) -> None:
        """One text frame, unless the client has gone."""
        try:
            await self.send_text(data)
        except trio.ClosedResourceError:
            pass

    async def turn(self, data: bytes) -> None:
        """Answer one client frame."""
        try:
            frame = parse_frame(data, self.state)
        except FrameError as exc:
            await self.send_quietly(error_frame(400, "invalid_request_error", str(exc)))
            return
        upstream = self._upstream_endpoint(frame)
        if upstream is not None and await self._relay(*upstream, frame):
            return
        if frame.generate:
            await self._generate(frame)
        else:
            await self._prewarm(frame)

    def _upstream_endpoint(self, frame: TurnFrame) -> tuple[Endpoint, str | None] | None:
        """The turn's endpoint (as the HTTP path would resolve it) and the model to send it,
        when that endpoint's upstream may take the turn over a WebSocket."""
        snapshot = self.bridge.deps.registry.snapshot
        pin = header_value(decode_headers(self.scope["headers"]), PIN_HEADER)
        try:
            resolution = snapshot.resolve(frame.model, pin)
        except PinError:
            return None  # the HTTP path answers it in the client's shape
        if not resolution.candidates:
            return None
        endpoint = resolution.candidates[0]
        if not self.bridge.upstreams.worth_trying(endpoint):
            return None
        return endpoint, endpoint.map_model(resolution.model)

    async def _open_link(self, endpoint: Endpoint) -> UpstreamLink | None:
        link = self._link
        if link is not None and link.endpoint == endpoint and link.is_open():
            return link
        await self.close_link()
        headers = upgrade_headers(decode_headers(self.scope["headers"]), endpoint)
        link = UpstreamLink(endpoint, socket_url(endpoint), headers)
        bridge = self.bridge
        if not await self._nursery.start(link.run, bridge.upstreams, bridge.deps.settings):
            return None
        self._link = link
        return link

    async def close_link(self) -> None:
        if self._link is not None:
            link, self._link = self._link, None
            await link.close()

    async def _relay(self, endpoint: Endpoint, model: str | None, frame: TurnFrame) -> bool:
        """The turn on an upstream socket; False when none could be opened (HTTP instead)."""
        link = await self._open_link(endpoint)
        if link is None:
            return False
        as_sent = not frame.expanded or self.state.last_via is link
        data = frame.upstream_frame(model, as_sent=as_sent)
        turn = RelayedTurn(link, ws_exchange(self.scope, frame, self.bridge.recorder.run_id), data)
        seen = _Seen()
        error = await self._run_relay(turn, seen)
        if error is not None:
            await self.close_link()
        elif seen.error_status is not None:
            message = "the upstream answered with an error frame"
            error = ErrorInfo("upstream_status", message, seen.error_status)
        turn.finish(error)
        self.bridge.recorder.submit(turn.exchange)
        if error is None and seen.response_id is not None:
            self.state.remember(frame, seen.response_id, seen.items, via=link)
        return True

    async def _run_relay(self, turn: RelayedTurn, seen: _Seen) -> ErrorInfo | None:
        settings = self.bridge.deps.settings
        with trio.CancelScope() as scope:
            self._relay_scope = scope
            try:
                await turn.send()
                while not seen.terminal:
                    data = await turn.next_event(settings)
                    seen.observe(data)
                    await self.send_text(data)
            except TurnFailed as failed:
                await self.send_quietly(error_frame(failed.status, "server_error", failed.message))
                return ErrorInfo(failed.kind, failed.message, failed.status)
            except trio.ClosedResourceError:
                pass
            finally:
                self._relay_scope = None
        if self.gone.is_set():
            return ErrorInfo("client_disconnected", "the client disconnected")
        return None

    async def _prewarm(self, frame: TurnFrame) -> None:
        response_id = "resp_" + secrets.token_hex(12)
        events = prewarm_events(response_id, frame.model, int(time.time()))
        self.state.remember(frame, response_id, [])
        self.bridge.recorder.record_prewarm(self.scope, frame, events)
        for event in events:
            await self.send_quietly(event)

    async def _generate(self, frame: TurnFrame) -> None:
        turn = _HttpTurn(self, frame)
        await self.bridge.http_app(http_scope(self.scope, frame.body), turn.receive, turn.send)
        await turn.finish()


class _EventItem(msgspec.Struct):
    id: str | None = None


class _EventView(msgspec.Struct):
    """What the bridge reads from a stream event; everything else passes as bytes."""

    type: str = ""
    response: _EventItem | None = None
    item: msgspec.Raw = msgspec.Raw(b"")
    status: int | None = None
    """An `error` frame's HTTP status."""


_decode_event = msgspec.json.Decoder(_EventView).decode


class _Seen:
    """What passed in a turn's events that a later frame's `previous_response_id` refers to."""

    def __init__(self) -> None:
        self.terminal = False
        self.response_id: str | None = None
        self.items: list[msgspec.Raw] = []
        self.error_status: int | None = None

    def observe(self, data: bytes) -> None:
        try:
            event = _decode_event(data)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if event.type in _TERMINAL:
            self.terminal = True
        if event.type == "error":
            self.error_status = event.status or 500
        if event.response is not None and event.response.id:
            self.response_id = event.response.id
        if event.type == "response.output_item.done" and len(event.item):
            self.items.append(event.item)


class _HttpTurn:
    """One turn as a synthetic HTTP request: its receive and send, and what went through them."""

    def __init__(self, session: _Session, frame: TurnFrame) -> None:
        self._session, self._frame = session, frame
        self._body_given = False
        self._status = 0
        self._headers: RawHeaders = []
        self._error_body = bytearray()
        self._decoder = SSEDecoder()
        self._seen = _Seen()

    async def receive(self) -> Message:
        if not self._body_given:
            self._body_given = True
            return {"type": "http.request", "body": self._frame.body, "more_body": False}
        await self._session.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
            self._headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            await self._body(message.get("body", b""))

    async def _body(self, chunk: bytes) -> None:
        if self._status != 200:
            self._error_body += chunk
            return
        try:
            events = self._decoder.feed(chunk)
        except SSEError:
            return  # the gateway's own stream; it ends with an error event of its own
        for event in events:
            if event.data and event.data != b"[DONE]":
                self._seen.observe(event.data)
                await self._session.send_text(event.data)

    async def finish(self) -> None:
        """After the synthetic request: an error frame where one is due, or the new state."""
        if self._session.gone.is_set():
            return
        if self._status != 200:
            body = bytes(self._error_body)
            status = self._status or 502
            await self._session.send_quietly(http_error_frame(status, self._headers, body))
        elif not self._seen.terminal:
            message = "the upstream stream ended before response.completed"
            await self._session.send_quietly(error_frame(502, "server_error", message))
        elif self._seen.response_id is not None:
            self._session.state.remember(self._frame, self._seen.response_id, self._seen.items)
