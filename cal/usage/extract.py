"""Usage of a same-format exchange, read with that format's codec after the fact."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from cal.formats import ApiFormat
from cal.sse import SSEDecoder
from cal.transform import RouteUnavailable, TranslationContext, TranslationError, load_codec
from cal.transform.ir import MessageStart, Usage, UsageUpdate


def _context(fmt: ApiFormat) -> TranslationContext:
    return TranslationContext(request_id="usage", client_model="", upstream_model="")


def usage_from_body(fmt: ApiFormat, body: bytes) -> Usage | None:
    """The usage in a non-stream response body of `fmt`, or None when it has none."""
    try:
        response = load_codec(fmt).parse_response(body, _context(fmt))
    except (RouteUnavailable, TranslationError, msgspec.MsgspecError, ValueError):
        return None
    return response.usage


def usage_from_events(fmt: ApiFormat, raw_events: Iterable[bytes]) -> Usage | None:
    """The last usage a recorded stream of `fmt` reported (each item one raw SSE event)."""
    try:
        parser = load_codec(fmt).stream_parser(_context(fmt))
    except RouteUnavailable:
        return None
    decoder = SSEDecoder()
    usage: Usage | None = None
    try:
        for raw in raw_events:
            for event in decoder.feed(raw):
                for parsed in parser.feed(event):
                    if isinstance(parsed, UsageUpdate | MessageStart) and parsed.usage is not None:
                        usage = parsed.usage
    except (TranslationError, msgspec.MsgspecError, ValueError):
        return usage
    return usage
