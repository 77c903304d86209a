"""transform/: protocol translation between the four client/upstream APIs.

Rule: pure and deterministic. Only the stdlib, msgspec, cal.formats and cal.sse are imported here
(never trio, httpx, quart, hypercorn, opentelemetry, capture or routing); ids and clock come in
through `TranslationContext`. Same-format traffic never comes here: the gateway passes it through
byte for byte.

Shape (docs/routes.md says why): each API has one *codec* module translating its wire format to
and from the IR of `cal.transform.ir`; a `Route` is the composition client codec ∘ upstream codec.

    route = lookup("anthropic", "openai-chat")           # client speaks Anthropic, upstream Chat
    up_body = route.translate_request(client_body, ctx)   # raises TranslationError (→ 4xx)
    client_body = route.translate_response(up_body, ctx)  # non-stream answer
    st = route.stream_translator(ctx)                     # per stream
    st.feed(sse_event) -> list[bytes]; st.finish() / st.fail(kind, message) -> list[bytes]
    status, body = route.translate_error(up_status, up_error_body, ctx)

A codec module `cal/transform/<name>.py` exposes `CODEC: Codec` (see `Codec` for each function's
contract). Codecs are imported lazily by `lookup`, so a route whose codec is not written yet
raises `RouteUnavailable` without breaking the others.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, get_args

import msgspec

from cal.formats import API_FORMATS, ApiFormat
from cal.formats.errors import ErrorKind, error_body, error_status
from cal.sse import SSEEvent
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    Request,
    Response,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    ToolKind,
    Usage,
    UsageUpdate,
)
from cal.transform.memo import Memo

__all__ = [
    "Codec",
    "Route",
    "RouteUnavailable",
    "StreamParser",
    "StreamRenderer",
    "StreamTranslator",
    "ToolAlias",
    "TranslationContext",
    "TranslationError",
    "lookup",
]

_CODEC_MODULES: dict[ApiFormat, str] = {
    "anthropic": "cal.transform.anthropic",
    "openai-chat": "cal.transform.openai_chat",
    "openai-responses": "cal.transform.openai_responses",
    "gemini": "cal.transform.gemini",
}


class TranslationError(Exception):
    """A client request that cannot be served through this route (e.g. `n>1` to Anthropic).

    The gateway answers the client with `status_hint` and `message` in the client's error shape.
    """

    def __init__(self, message: str, status_hint: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_hint = status_hint


class RouteUnavailable(LookupError):
    """No translation exists for this pair (same format, or a codec not written yet)."""


class ToolAlias(msgspec.Struct, frozen=True):
    """How a tool was renamed for the upstream (a flattened namespace, a custom tool exposed as a
    function with one string property `input`), so the upstream parser can map calls back."""

    name: str
    namespace: str | None = None
    kind: ToolKind = "function"


def _sequential_ids(request_id: str) -> Callable[[str], str]:
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}{request_id}{next(counter)}"


@dataclass
class TranslationContext:
    """Everything a translation needs besides the body, for one exchange (request, response and
    stream share it). The gateway builds one per exchange; tests build one with fixed ids/clock.

    Attributes:
        request_id: cal's request id (default id source).
        client_model: the model as the client named it (shown back to the client).
        upstream_model: the model after the endpoint's model map; renderers put it in the
            upstream body (the gateway puts it in Gemini's URL).
        stream: the client asked for a stream.
        now: Unix seconds, injected so fixtures replay byte for byte.
        new_id: `new_id(prefix)` → a fresh id starting with `prefix` ("msg_", "chatcmpl-", …).
        notes: what translation changed or dropped, in order, each once (use `note()`).
        tool_aliases: upstream tool name → original tool (filled by the upstream renderer, read
            by the upstream parser of the same exchange).
        include_usage: the client asked for usage in its stream (Chat
            `stream_options.include_usage`); set by the client parser, read by its renderer.
        client_format / upstream_format: set by `lookup`'s Route on first use.
        memo: the Route's memo of parse results keyed by source bytes (set by the Route; None
            parses everything afresh, with the same results).
    """

    request_id: str
    client_model: str
    upstream_model: str
    stream: bool = False
    now: Callable[[], int] = lambda: 0
    new_id: Callable[[str], str] | None = None
    notes: list[str] = field(default_factory=list)
    tool_aliases: dict[str, ToolAlias] = field(default_factory=dict)
    include_usage: bool = False
    client_format: ApiFormat | None = None
    upstream_format: ApiFormat | None = None
    memo: Memo | None = None

    def __post_init__(self) -> None:
        if self.new_id is None:
            self.new_id = _sequential_ids(self.request_id)

    def make_id(self, prefix: str) -> str:
        """A fresh id with `prefix` from the injected factory."""
        assert self.new_id is not None
        return self.new_id(prefix)

    def note(self, message: str) -> None:
        """Record what translation changed or dropped (each distinct message once)."""
        if message not in self.notes:
            self.notes.append(message)


class StreamParser(Protocol):
    """Upstream SSE events → IR stream events, for one stream (stateful).

    `feed` never raises on unknown or malformed events: it notes them in `ctx.notes` and skips
    them. An in-band upstream error becomes a `StreamError` event. `end` is called once when the
    upstream closed normally and returns any events still owed (e.g. Gemini's final stops).
    """

    def feed(self, event: SSEEvent) -> list[StreamEvent]: ...

    def end(self) -> list[StreamEvent]: ...


class StreamRenderer(Protocol):
    """IR stream events → encoded client SSE bytes (each item one or more whole events, made with
    `cal.sse.encode_event`), for one stream (stateful).

    `render` gets every event except `StreamError` (the route turns that into `fail`). `close`
    ends a stream whose `Finish` was seen: closes open blocks, emits final events (message_delta +
    message_stop, the Chat usage chunk if the client asked for it + `[DONE]`, …). `fail` ends a
    broken stream with the client's in-band error (after closing what it must). After `close` or
    `fail` nothing more is called.
    """

    def render(self, event: StreamEvent) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...

    def fail(self, kind: ErrorKind, message: str) -> list[bytes]: ...


@dataclass(frozen=True)
class Codec:
    """One API's translation to and from the IR. Each codec module exposes `CODEC = Codec(...)`.

    Attributes:
        format: the API this codec speaks.
        parse_request: client body → IR request (tolerant: unknown fields to `extras`, unknown
            parts to `Opaque`, noted; raises TranslationError only for what cannot be served).
        render_request: IR request → upstream body, with `ctx.upstream_model`; drops with a note
            what the API cannot carry; asks for streamed usage where needed; raises
            TranslationError for what must not be silently changed (e.g. n>1).
        parse_response: upstream non-stream body → IR response.
        render_response: IR response → client body (model = `ctx.client_model`).
        stream_parser: `stream_parser(ctx)` → a new StreamParser for upstream events.
        stream_renderer: `stream_renderer(ctx)` → a new StreamRenderer for the client.
        parse_error: `(status, upstream error body)` → (ErrorKind, message); never raises (a
            body it cannot read gives the status's kind and a generic message).
    """

    format: ApiFormat
    parse_request: Callable[[bytes, TranslationContext], Request]
    render_request: Callable[[Request, TranslationContext], bytes]
    parse_response: Callable[[bytes, TranslationContext], Response]
    render_response: Callable[[Response, TranslationContext], bytes]
    stream_parser: Callable[[TranslationContext], StreamParser]
    stream_renderer: Callable[[TranslationContext], StreamRenderer]
    parse_error: Callable[[int, bytes], tuple[ErrorKind, str]]


_ERROR_KINDS = frozenset(get_args(ErrorKind))


class StreamTranslator:
    """Upstream SSE events in, client SSE bytes out, event by event (no buffering beyond what the
    client format forces). `usage` is the canonical usage seen so far."""

    def __init__(self, parser: StreamParser, renderer: StreamRenderer) -> None:
        self._parser = parser
        self._renderer = renderer
        self._finished = False
        self._closed = False
        self.usage = Usage()
        self.failure: tuple[ErrorKind, str] | None = None
        """Why the client stream was closed with an error (an upstream error or cut), if it was."""
        self.cut = False
        """True when the upstream stream ended without its final event."""
        self.model: str | None = None
        """The model the upstream said it answered with."""
        self.finish_reasons: list[str] = []

    @property
    def closed(self) -> bool:
        """True once the client stream has ended (normally or with an error)."""
        return self._closed

    def feed(self, event: SSEEvent) -> list[bytes]:
        """Translate one upstream event (nothing once the client stream is closed)."""
        if self._closed:
            return []
        return self._render_all(self._parser.feed(event))

    def finish(self) -> list[bytes]:
        """The upstream ended normally: the client's closing events (or, when the upstream never
        said it finished, the client's in-band error)."""
        if self._closed:
            return []
        out = self._render_all(self._parser.end())
        if self._closed:
            return out
        if not self._finished:
            self.cut = True
            return out + self.fail("bad_gateway", "upstream stream ended before its final event")
        self._closed = True
        return out + self._renderer.close()

    def fail(self, kind: ErrorKind, message: str) -> list[bytes]:
        """The upstream broke mid-stream: close the client stream with its in-band error."""
        if self._closed:
            return []
        self._closed = True
        self.failure = (kind, message)
        return self._renderer.fail(kind, message)

    def _render_all(self, events: list[StreamEvent]) -> list[bytes]:
        out: list[bytes] = []
        render = self._renderer.render
        for ev in events:
            if self._closed:
                break
            if type(ev) in _CONTENT_EVENTS:  # most of a stream: straight to the renderer
                out += render(ev)
                continue
            if isinstance(ev, StreamError):
                kind = ev.kind if ev.kind in _ERROR_KINDS else "api_error"
                out += self.fail(kind, ev.message)
                break
            if isinstance(ev, MessageStart):
                self.model = ev.model or self.model
            if isinstance(ev, UsageUpdate | MessageStart) and ev.usage is not None:
                self.usage = ev.usage
            elif isinstance(ev, Finish):
                self._finished = True
                self.finish_reasons.append(ev.stop_reason)
            out += render(ev)
        return out


_CONTENT_EVENTS = frozenset(
    {BlockStart, BlockStop, TextDelta, ThinkingDelta, SignatureDelta, ToolArgsDelta}
)
"""IR events the translator only passes on (nothing to note about usage, model or the end)."""


@dataclass(frozen=True)
class Route:
    """`client` served through `upstream`: the composition of their codecs."""

    client: Codec
    upstream: Codec
    memo: Memo = field(default_factory=Memo, compare=False, repr=False)
    """Parse results of pieces clients repeat on every turn (tool lists), for this route."""

    @property
    def name(self) -> str:
        """`{client}->{upstream}`, as Exchange.route records it."""
        return f"{self.client.format}->{self.upstream.format}"

    def _bind(self, ctx: TranslationContext) -> None:
        ctx.client_format = self.client.format
        ctx.upstream_format = self.upstream.format
        ctx.memo = self.memo

    def translate_request(self, body: bytes, ctx: TranslationContext) -> bytes:
        """Client request body → upstream request body (raises TranslationError)."""
        self._bind(ctx)
        request = self.client.parse_request(body, ctx)
        ctx.client_model = ctx.client_model or request.model
        request.model = ctx.upstream_model = ctx.upstream_model or request.model
        return self.upstream.render_request(request, ctx)

    def translate_response(self, body: bytes, ctx: TranslationContext) -> bytes:
        """Upstream non-stream body (a 2xx) → client body."""
        self._bind(ctx)
        return self.client.render_response(self.upstream.parse_response(body, ctx), ctx)

    def parse_response(self, body: bytes, ctx: TranslationContext) -> Response:
        """The upstream's non-stream body in IR form (its usage is the canonical usage)."""
        return self.upstream.parse_response(body, ctx)

    def stream_translator(self, ctx: TranslationContext) -> StreamTranslator:
        """A fresh translator for one stream."""
        self._bind(ctx)
        return StreamTranslator(self.upstream.stream_parser(ctx), self.client.stream_renderer(ctx))

    def translate_error(
        self, status: int, body: bytes, ctx: TranslationContext
    ) -> tuple[int, bytes]:
        """An upstream error response → (client status, client error body) (protocols.md §3.7:
        529 only to Anthropic clients; an upstream 503/overload becomes 529 for them)."""
        self._bind(ctx)
        kind, message = self.upstream.parse_error(status, body)
        if kind == "unavailable" and self.client.format == "anthropic":
            kind = "overloaded"
        return error_status(self.client.format, kind), error_body(self.client.format, kind, message)


def load_codec(fmt: ApiFormat) -> Codec:
    """The codec of `fmt` (raises RouteUnavailable when its module is not there yet)."""
    name = _CODEC_MODULES[fmt]
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise RouteUnavailable(f"no codec for {fmt} yet") from exc
    codec = getattr(module, "CODEC", None)
    if not isinstance(codec, Codec):
        raise RouteUnavailable(f"{name} has no CODEC")
    return codec


def lookup(client: ApiFormat, upstream: ApiFormat) -> Route:
    """The route serving `client` through `upstream`.

    Raises:
        RouteUnavailable: same format (the gateway passes those through) or a missing codec.
    """
    if client == upstream:
        raise RouteUnavailable(f"{client} to {upstream} is pass-through, not a translation")
    return _route(client, upstream)


@functools.cache
def _route(client: ApiFormat, upstream: ApiFormat) -> Route:
    """One Route per pair for the process, so its memo lives across requests (a failed codec
    import raises and is not cached)."""
    return Route(load_codec(client), load_codec(upstream))


def available_routes() -> list[tuple[ApiFormat, ApiFormat]]:
    """Every (client, upstream) pair whose codecs exist."""
    out: list[tuple[ApiFormat, ApiFormat]] = []
    for client, upstream in itertools.product(API_FORMATS, API_FORMATS):
        if client == upstream:
            continue
        try:
            lookup(client, upstream)
        except RouteUnavailable:
            continue
        out.append((client, upstream))
    return out
