"""The mock provider as a plain ASGI app: routing, request reading, faults, response writing.

Lean on purpose (it is the upstream of the benchmarks): no framework, msgspec views, one write for
a whole stream when `interval_ms` is 0. Per-instance state only: the last requests received, the
`fail-first` counters and the id sequence.
"""

from __future__ import annotations

import itertools
import secrets
import time
import zlib
from collections import OrderedDict, deque
from typing import Literal, Protocol
from urllib.parse import unquote

import msgspec
import trio

from cal.formats import ApiFormat
from cal.formats.errors import error_body
from cal.formats.routes import guess_format
from cal.mock import anthropic, catalog, gemini, openai_chat, openai_responses
from cal.mock.faults import (
    Faults,
    FaultSpecError,
    error_response_body,
    parse_faults,
    rate_limit_headers,
    shape_stream,
    split_model,
)
from cal.mock.incoming import (
    Header,
    Incoming,
    MockRequestError,
    Receive,
    ReceivedRequest,
    Scope,
    Send,
)
from cal.mock.reply import MockOptions, PathInfo, Reply, Turn, count_tokens, plan_reply
from cal.mock.ws import serve_websocket

RECEIVED_MAX = 256
_FAIL_KEYS_MAX = 1024
_NO_FAULTS = Faults()


class _Api(Protocol):
    """What each API module provides (the modules themselves satisfy it)."""

    def parse_turn(self, body: bytes, path: PathInfo) -> Turn: ...
    def render_body(self, turn: Turn, reply: Reply) -> bytes: ...
    def render_stream(self, turn: Turn, reply: Reply) -> list[bytes]: ...
    def render_stream_error(self, turn: Turn, reply: Reply, seq: int) -> bytes: ...


_APIS: dict[ApiFormat, _Api] = {
    "anthropic": anthropic,
    "openai-chat": openai_chat,
    "openai-responses": openai_responses,
    "gemini": gemini,
}
Operation = Literal["generate", "count"]
_POST_ROUTES: dict[str, tuple[ApiFormat, Operation]] = {
    "/v1/messages": ("anthropic", "generate"),
    "/v1/messages/count_tokens": ("anthropic", "count"),
    "/v1/chat/completions": ("openai-chat", "generate"),
    "/v1/responses": ("openai-responses", "generate"),
    "/v1/responses/input_tokens": ("openai-responses", "count"),
}
_GEMINI_ACTIONS: dict[str, Operation] = {
    "generateContent": "generate",
    "streamGenerateContent": "generate",
    "countTokens": "count",
}
_GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")
_REQUEST_ID_HEADER: dict[ApiFormat, bytes] = {
    "anthropic": b"request-id",
    "openai-chat": b"x-request-id",
    "openai-responses": b"x-request-id",
    "gemini": b"x-request-id",
}
_JSON = b"application/json"
_SSE = b"text/event-stream; charset=utf-8"


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(
    send: Send, status: int, headers: list[Header], body: bytes, gz: bool = False
) -> None:
    if gz:
        body = zlib.compress(body, wbits=31)
        headers = [*headers, (b"content-encoding", b"gzip")]
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _respond_json(
    send: Send, status: int, body: bytes, headers: list[Header] | None = None
) -> None:
    await _respond(send, status, [(b"content-type", _JSON), *(headers or [])], body)


async def _stream(
    send: Send, headers: list[Header], events: list[bytes], interval_s: float, gz: bool
) -> None:
    """Write the events (gzip: flushed per event); with no interval, the whole stream at once."""
    compressor = zlib.compressobj(wbits=31) if gz else None
    if gz:
        headers = [*headers, (b"content-encoding", b"gzip")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if not interval_s or not events:
        events = [b"".join(events)]
    last = len(events) - 1
    for i, event in enumerate(events):
        if i:
            await trio.sleep(interval_s)
        if compressor is not None:
            flush = zlib.Z_FINISH if i == last else zlib.Z_SYNC_FLUSH
            event = compressor.compress(event) + compressor.flush(flush)
        await send({"type": "http.response.body", "body": event, "more_body": i < last})


class MockProvider:
    """The ASGI app: every supported API answered deterministically, with faults on request.

    `received` holds the last RECEIVED_MAX requests (oldest first), so tests can compare what reached
    the upstream with what the client sent.
    """

    def __init__(self, options: MockOptions | None = None) -> None:
        self.options = options or MockOptions()
        self.received: deque[ReceivedRequest] = deque(maxlen=RECEIVED_MAX)
        self._attempts: OrderedDict[str, int] = OrderedDict()
        self._sequence = itertools.count(1)
        self._tag = secrets.token_hex(3)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        elif scope["type"] == "websocket":
            await serve_websocket(self, scope, receive, send)
        elif scope["type"] == "http":
            body = await _read_body(receive)
            if body is not None:
                incoming = Incoming(scope, body)
                self.received.append(incoming.record())
                await self._dispatch(incoming, send)

    def next_rid(self) -> str:
        return f"mock{self._tag}{next(self._sequence):06d}"

    async def _dispatch(self, incoming: Incoming, send: Send) -> None:
        path, method = incoming.path.rstrip("/") or "/", incoming.method
        if method == "GET":
            await self._get(incoming, path, send)
            return
        route = _POST_ROUTES.get(path) if method == "POST" else None
        info = PathInfo(query=incoming.query)
        if route is None and method == "POST" and path.startswith(_GEMINI_PREFIXES):
            model, _, action = path.split("/models/", 1)[1].rpartition(":")
            operation = _GEMINI_ACTIONS.get(action)
            if model and operation:
                route = ("gemini", operation)
                info = PathInfo(model, action == "streamGenerateContent", incoming.query)
        if route is None:
            await self._not_found(incoming, send)
            return
        fmt, operation = route
        try:
            if operation == "count":
                await self._count(fmt, incoming, send)
            else:
                await self._generate(fmt, info, incoming, send)
        except MockRequestError as exc:
            await _respond_json(send, 400, error_body(fmt, "invalid_request", str(exc)))

    async def _get(self, incoming: Incoming, path: str, send: Send) -> None:
        if path == "/v1/models":
            anthropic_shape = "anthropic-version" in incoming.names
            await _respond_json(
                send, 200, catalog.ANTHROPIC_MODELS if anthropic_shape else catalog.OPENAI_MODELS
            )
        elif path == "/v1beta/models":
            await _respond_json(send, 200, catalog.GEMINI_MODELS)
        elif path == "/health":
            await _respond_json(send, 200, b'{"status":"ok","service":"cal-mock"}')
        elif path.startswith("/v1/models/"):
            shape: catalog.ModelShape = (
                "anthropic" if "anthropic-version" in incoming.names else "openai"
            )
            await _respond_json(send, 200, catalog.model_body(shape, unquote(path[11:])))
        elif path.startswith("/v1beta/models/"):
            await _respond_json(send, 200, catalog.model_body("gemini", unquote(path[15:])))
        else:
            await self._not_found(incoming, send)

    async def _not_found(self, incoming: Incoming, send: Send) -> None:
        fmt = guess_format(incoming.path, incoming.names)
        message = f"{incoming.method} {incoming.path} is not served by the cal mock provider"
        await _respond_json(send, 404, error_body(fmt, "not_found", message))

    async def _count(self, fmt: ApiFormat, incoming: Incoming, send: Send) -> None:
        tokens = count_tokens(len(incoming.body))
        if fmt == "anthropic":
            body = b'{"input_tokens":%d}' % tokens
        elif fmt == "gemini":
            body = b'{"totalTokens":%d}' % tokens
        else:
            body = b'{"object":"response.input_tokens","input_tokens":%d}' % tokens
        await _respond_json(send, 200, body)

    def options_for(self, incoming: Incoming) -> MockOptions:
        chunks = incoming.mock_int(b"x-mock-chunks", self.options.chunks)
        interval = incoming.mock_int(b"x-mock-interval-ms", self.options.interval_ms)
        if (chunks, interval) == (self.options.chunks, self.options.interval_ms):
            return self.options
        return MockOptions(chunks=chunks, interval_ms=interval)

    def faults_for(self, model: str, incoming: Incoming) -> Faults:
        _, model_spec = split_model(model)
        header_spec = incoming.mock.get(b"x-mock-fault", "")
        if not model_spec and not header_spec:
            return _NO_FAULTS
        try:
            faults = parse_faults(f"{model_spec},{header_spec}")
        except FaultSpecError as exc:
            raise MockRequestError(str(exc)) from None
        if faults.fail_first is not None and not self._still_failing(faults.fail_first, incoming):
            return faults.failures_off()
        return faults

    def _still_failing(self, fail_first: int, incoming: Incoming) -> bool:
        """Count this request under its X-Mock-Key; True while the count is within `fail_first`."""
        key = incoming.mock.get(b"x-mock-key", "")
        count = self._attempts.pop(key, 0) + 1
        self._attempts[key] = count
        while len(self._attempts) > _FAIL_KEYS_MAX:
            self._attempts.popitem(last=False)
        return count <= fail_first

    async def _generate(
        self, fmt: ApiFormat, info: PathInfo, incoming: Incoming, send: Send
    ) -> None:
        api = _APIS[fmt]
        try:
            turn = api.parse_turn(incoming.body, info)
        except msgspec.DecodeError as exc:
            raise MockRequestError(f"invalid request body: {exc}") from None
        options = self.options_for(incoming)
        faults = self.faults_for(turn.model, incoming)
        rid = self.next_rid()
        headers = [(_REQUEST_ID_HEADER[fmt], f"req_{rid}".encode())]
        if faults.delay_ms:
            await trio.sleep(faults.delay_ms / 1000)
        if faults.status is not None:
            await self._fail(fmt, faults, rid, headers, send)
            return
        reply = plan_reply(turn, options, rid=rid, created=int(time.time()))
        if not turn.stream:
            headers.append((b"content-type", _JSON))
            await _respond(send, 200, headers, api.render_body(turn, reply), faults.gzip)
            return
        events = api.render_stream(turn, reply)
        if faults is not _NO_FAULTS:
            events = shape_stream(
                events, faults, lambda seq: api.render_stream_error(turn, reply, seq)
            )
        sse = fmt != "gemini" or turn.sse
        headers += [(b"content-type", _SSE if sse else _JSON), (b"cache-control", b"no-cache")]
        await _stream(send, headers, events, options.interval_ms / 1000, faults.gzip)

    async def _fail(
        self, fmt: ApiFormat, faults: Faults, rid: str, headers: list[Header], send: Send
    ) -> None:
        status = faults.status or 500
        if status == 429:
            headers = headers + rate_limit_headers(fmt, faults.retry_after)
        body = error_response_body(fmt, status, f"req_{rid}", faults.retry_after)
        headers.append((b"content-type", _JSON))
        await _respond(send, status, headers, body, faults.gzip)
