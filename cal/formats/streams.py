"""How each API ends a stream (pure): a stream that stops before its last event was cut."""

from __future__ import annotations

from cal.formats import ApiFormat
from cal.sse import SSEEvent

_ANTHROPIC_END = frozenset({"message_stop", "error"})
_RESPONSES_END = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "error"}
)


def ends_stream(fmt: ApiFormat, event: SSEEvent) -> bool:
    """True when `event` is one a complete stream of `fmt` ends with (its final or error event)."""
    data = event.data
    if fmt == "anthropic":
        return event.event in _ANTHROPIC_END or data.startswith(b'{"type":"message_stop"')
    if fmt == "openai-chat":
        return data == b"[DONE]" or data.startswith(b'{"error"')
    if fmt == "openai-responses":
        if event.event is not None:
            return event.event in _RESPONSES_END
        return any(f'"type":"{name}"'.encode() in data[:64] for name in _RESPONSES_END)
    return b'"finishReason"' in data or data.startswith(b'{"error"')


def is_error_event(fmt: ApiFormat, event: SSEEvent) -> bool:
    """True when `event` is `fmt`'s in-band error (the stream ended with a failure)."""
    data = event.data
    if fmt == "anthropic":
        return event.event == "error"
    if fmt == "openai-responses":
        return event.event in ("error", "response.failed") or data.startswith(
            (b'{"type":"error"', b'{"type":"response.failed"')
        )
    return data.startswith(b'{"error"')
