"""What an upstream answered, read with its own codec after the fact: usage, model, stop reason.

One reading of each API's fields (the transform codecs'), for what passed through untranslated
(same-format exchanges, relayed WebSocket turns), after the client has its last byte; translated
exchanges take the same facts from their translation.

This runs on the gateway's loop, so a recorded stream is not parsed whole: a byte test on each
raw event keeps the few that can carry the facts (Anthropic's message_start and message_delta,
Responses' created, call items and terminal event, Chat chunks other than plain content deltas)
and only those go through the codec's parser. Should that miss the stop reason (an upstream that
shapes its events unlike the provider), the whole stream is read as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import msgspec

from cal.formats import ApiFormat
from cal.sse import SSEDecoder
from cal.transform import RouteUnavailable, TranslationContext, TranslationError, load_codec
from cal.transform.ir import Finish, MessageStart, Usage, UsageUpdate

_ERRORS = (RouteUnavailable, TranslationError, msgspec.MsgspecError, ValueError)


class AnswerSummary(msgspec.Struct):
    """The facts about an upstream answer that records and spans carry."""

    usage: Usage | None = None
    model: str | None = None
    finish_reasons: list[str] = msgspec.field(default_factory=list)


def _context() -> TranslationContext:
    return TranslationContext(request_id="summary", client_model="", upstream_model="")


def summarize_body(fmt: ApiFormat, body: bytes) -> AnswerSummary:
    """Usage, model and stop reason of a non-stream response body of `fmt`."""
    try:
        response = load_codec(fmt).parse_response(body, _context())
    except _ERRORS:
        return AnswerSummary()
    return AnswerSummary(response.usage, response.model or None, [response.stop_reason])


def summarize_events(fmt: ApiFormat, raw_events: Iterable[bytes]) -> AnswerSummary:
    """The same for a recorded stream of `fmt` (each item one whole raw SSE event, as records
    keep them; an item of several events is read only when the quick reading finds no stop)."""
    raws = raw_events if isinstance(raw_events, Sequence) else list(raw_events)
    carriers = _CARRIERS.get(fmt)
    if carriers is not None and raws:
        summary = _summarize([raws[0], *carriers(raws[1:])], fmt)
        if summary.finish_reasons:
            return summary
    return _summarize(raws, fmt)


def _starting(*prefixes: bytes) -> Callable[[Sequence[bytes]], list[bytes]]:
    return lambda raws: [raw for raw in raws if raw.startswith(prefixes)]


def _chat_carriers(raws: Sequence[bytes]) -> list[bytes]:
    return [raw for raw in raws if not _plain_chat_delta(raw)]


def _plain_chat_delta(raw: bytes) -> bool:
    """A Chat chunk with no finish, no tool call and no usage (most of a stream)."""
    if b'"finish_reason":null' not in raw or b'"finish_reason":"' in raw:
        return False
    if b'"tool_calls"' in raw:
        return False
    return b'"usage"' not in raw or b'"usage":null' in raw


_CARRIERS: dict[ApiFormat, Callable[[Sequence[bytes]], list[bytes]]] = {
    "anthropic": _starting(
        b"event: message_start",
        b"event: message_delta",
        b'data: {"type":"message_start"',
        b'data: {"type":"message_delta"',
    ),
    "openai-responses": _starting(
        b"event: response.created",
        b"event: response.output_item.added",
        b"event: response.completed",
        b"event: response.incomplete",
        b'data: {"type":"response.created"',
        b'data: {"type":"response.output_item.added"',
        b'data: {"type":"response.completed"',
        b'data: {"type":"response.incomplete"',
    ),
    "openai-chat": _chat_carriers,
}
"""Per format, the events (after the first) that may carry usage, model or stop reason, told
by their bytes (a JSON key in the raw bytes is a key: inside a string its quotes are escaped)."""


def _summarize(raw_events: Iterable[bytes], fmt: ApiFormat) -> AnswerSummary:
    summary = AnswerSummary()
    try:
        parser = load_codec(fmt).stream_parser(_context())
        decoder = SSEDecoder()
        for raw in raw_events:
            for event in decoder.feed(raw):
                for parsed in parser.feed(event):
                    _note(summary, parsed)
        for parsed in parser.end():
            _note(summary, parsed)
    except _ERRORS:
        return summary
    return summary


def _note(summary: AnswerSummary, event: object) -> None:
    if isinstance(event, MessageStart):
        summary.model = event.model or summary.model
        if event.usage is not None:
            summary.usage = event.usage
    elif isinstance(event, UsageUpdate):
        summary.usage = event.usage
    elif isinstance(event, Finish):
        summary.finish_reasons.append(event.stop_reason)
