"""Frames of the Responses WebSocket mode: client frames to request bodies, answers to frames.

No socket here: what a `response.create` frame asks for, the body of the HTTP request that serves
it, the session state that `previous_response_id` refers to, the local answer to a prewarm, the
`error` frames the real service sends, and the record of a prewarm.
"""

from __future__ import annotations

import time

import msgspec

from cal.capture.model import Exchange, StreamEvent
from cal.gateway.asgi import RawHeaders, Scope, new_request_id
from cal.gateway.clients import identify_client
from cal.gateway.headers import decode_headers
from cal.service import ExchangeSink
from cal.telemetry.traceparent import new_span_id, new_trace_id

_Fields = dict[str, msgspec.Raw]
_DROPPED_KEYS = ("type", "generate")
_ERROR_HEADER_PREFIXES = ("retry-after", "x-ratelimit-", "x-request-id", "x-cal-")
PREWARM_NOTE = "WebSocket prewarm (generate: false) answered by cal: no upstream call"


class FrameError(ValueError):
    """A client frame that is not a `response.create` request."""


class TurnFrame(msgspec.Struct):
    """One client frame, ready to serve."""

    raw: bytes
    """The frame as the client sent it."""
    body: bytes
    """The Responses request body that serves it (stream: true, full input when expanded)."""
    model: str | None
    generate: bool
    input_items: list[msgspec.Raw]
    """The turn's whole input, after `previous_response_id` expansion."""
    fields: dict[str, msgspec.Raw]
    """The request fields after expansion, without `type`, `generate` and `stream`."""
    expanded: bool
    """Whether `previous_response_id` was replaced by the input it stands for."""

    def upstream_frame(self, model: str | None, *, as_sent: bool) -> bytes:
        """The frame for an upstream WebSocket, with `model` (the endpoint's name for it).

        `as_sent`: the client's frame (its `previous_response_id`, if any, is the upstream's);
        otherwise the expanded request, for an upstream that does not know the previous response.
        """
        fields: dict[str, msgspec.Raw] = {"type": msgspec.Raw(b'"response.create"')}
        if as_sent:
            fields.update(msgspec.json.decode(self.raw, type=dict[str, msgspec.Raw]))
        else:
            fields.update(self.fields)
        if model is not None:
            fields["model"] = msgspec.Raw(msgspec.json.encode(model))
        if not self.generate:
            fields["generate"] = msgspec.Raw(b"false")
        return msgspec.json.encode(fields)


class SessionState:
    """What the last answered turn of a socket was: the base of an incremental frame."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.last_input: list[msgspec.Raw] = []
        self.last_output: list[msgspec.Raw] = []
        self.last_via: object | None = None
        """The upstream socket that answered the last turn (it knows `last_id`), if any."""

    def remember(
        self,
        frame: TurnFrame,
        response_id: str,
        output: list[msgspec.Raw],
        via: object | None = None,
    ) -> None:
        self.last_id, self.last_via = response_id, via
        self.last_input, self.last_output = frame.input_items, output


class _FrameView(msgspec.Struct):
    """The fields of a frame the bridge reads; the others pass through as bytes."""

    type: str = ""
    generate: bool | None = None
    model: str | None = None
    previous_response_id: str | None = None


def _input_items(raw: msgspec.Raw | None) -> list[msgspec.Raw]:
    """The input as a list of items (a string input is one user message)."""
    if raw is None:
        return []
    value = msgspec.json.decode(raw, type=str | list[msgspec.Raw] | None)
    if value is None:
        return []
    if isinstance(value, str):
        message = {"type": "message", "role": "user", "content": value}
        return [msgspec.Raw(msgspec.json.encode(message))]
    return list(value)


def parse_frame(data: bytes, state: SessionState) -> TurnFrame:
    """A client frame as a turn; FrameError when it is not a `response.create` request."""
    try:
        view = msgspec.json.decode(data, type=_FrameView)
        fields = msgspec.json.decode(data, type=_Fields)
        items = _input_items(fields.get("input"))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameError(f"frame is not a Responses request: {exc}") from None
    if view.type != "response.create":
        raise FrameError(f"unsupported frame type {view.type!r}: expected 'response.create'")
    previous = view.previous_response_id
    expanded = previous is not None and previous == state.last_id
    if expanded:
        items = [*state.last_input, *state.last_output, *items]
        fields.pop("previous_response_id")
        fields["input"] = msgspec.Raw(msgspec.json.encode(items))
    for key in (*_DROPPED_KEYS, "stream"):
        fields.pop(key, None)
    body = msgspec.json.encode({**fields, "stream": msgspec.Raw(b"true")})
    return TurnFrame(
        raw=data,
        body=body,
        model=view.model,
        generate=view.generate is not False,
        input_items=items,
        fields=fields,
        expanded=expanded,
    )


def _response(response_id: str, model: str | None, created: int, status: str) -> dict[str, object]:
    usage = {
        "input_tokens": 0,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 0,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 0,
    }
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "model": model or "",
        "output": [],
        "error": None,
        "incomplete_details": None,
        "usage": usage if status == "completed" else None,
    }


def prewarm_events(response_id: str, model: str | None, created: int) -> list[bytes]:
    """The answer to a prewarm: response.created, then response.completed with no output."""
    events = [
        {
            "type": "response.created",
            "sequence_number": 0,
            "response": _response(response_id, model, created, "in_progress"),
        },
        {
            "type": "response.completed",
            "sequence_number": 1,
            "response": _response(response_id, model, created, "completed"),
        },
    ]
    return [msgspec.json.encode(e) for e in events]


def error_frame(
    status: int,
    kind: str,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An `error` frame as the service sends it: the HTTP error body plus `status`, `headers`."""
    error = {
        "type": kind,
        "code": code,
        "message": message,
        "param": None,
        "headers": headers or {},
    }
    return msgspec.json.encode({"type": "error", "status": status, "error": error})


class _ErrorBody(msgspec.Struct):
    error: dict[str, object]


def http_error_frame(status: int, headers: RawHeaders, body: bytes) -> bytes:
    """The `error` frame for an HTTP error answer (OpenAI error body and headers)."""
    kept = {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in headers
        if k.decode("latin-1").startswith(_ERROR_HEADER_PREFIXES)
    }
    try:
        error = msgspec.json.decode(body, type=_ErrorBody).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body.decode("utf-8", "replace")[:500] or f"HTTP {status}"
        return error_frame(status, "server_error", text, headers=kept)
    return msgspec.json.encode(
        {"type": "error", "status": status, "error": {**error, "headers": kept}}
    )


class _TypeView(msgspec.Struct):
    type: str = "message"


def as_sse(frame: bytes) -> bytes:
    """A frame as the SSE event a POST stream would have carried (how records keep events)."""
    try:
        name = msgspec.json.decode(frame, type=_TypeView).type
    except (msgspec.DecodeError, msgspec.ValidationError):
        name = "message"
    data = b"\ndata: ".join(frame.splitlines()) or b""
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def ws_exchange(scope: Scope, frame: TurnFrame, run_id: str) -> Exchange:
    """The record of a turn the bridge serves itself (method `WS`, the frame as the body)."""
    headers = decode_headers(scope["headers"])
    client_name, session_id = identify_client(headers)
    tag = scope["path"].rstrip("/").removesuffix("/v1/responses").strip("/") or None
    return Exchange(
        request_id=new_request_id(),
        trace_id=new_trace_id(),
        span_id=new_span_id(),
        run_id=run_id,
        started_at=time.time(),
        method="WS",
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        client_format="openai-responses",
        client_headers=headers,
        client_body=frame.raw,
        source_tag=tag,
        client_name=client_name,
        session_id=session_id,
        stream=True,
        model=frame.model,
    )


class TurnRecorder:
    """Hands the records of the turns the bridge serves itself to the runtime's sinks."""

    def __init__(self, run_id: str, sinks: list[ExchangeSink]) -> None:
        self.run_id, self._sinks = run_id, sinks

    def submit(self, exchange: Exchange) -> None:
        for sink in self._sinks:
            sink.submit_nowait(exchange)

    def record_prewarm(self, scope: Scope, frame: TurnFrame, events: list[bytes]) -> None:
        exchange = ws_exchange(scope, frame, self.run_id)
        exchange.status, exchange.duration_ms = 200, 0.0
        exchange.client_events = [StreamEvent(0.0, as_sse(e)) for e in events]
        exchange.notes.append(PREWARM_NOTE)
        self.submit(exchange)
