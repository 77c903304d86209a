"""What an upstream answered, read with its own codec after the fact: usage, model, stop reason.

One reading of each API's fields (the transform codecs'), for what passed through untranslated
(same-format exchanges, relayed WebSocket turns), after the client has its last byte; translated
exchanges take the same facts from their translation.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    """The same for a recorded stream of `fmt` (each item one or more raw SSE events)."""
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
