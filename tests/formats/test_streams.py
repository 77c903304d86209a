"""Which event ends a complete stream of each API."""

from __future__ import annotations

import pytest

from cal.formats.streams import ends_stream, is_error_event
from cal.sse import SSEEvent


@pytest.mark.parametrize(
    ("fmt", "event", "ends"),
    [
        ("anthropic", SSEEvent(b'{"type":"message_stop"}', "message_stop"), True),
        ("anthropic", SSEEvent(b'{"type":"error","error":{}}', "error"), True),
        ("anthropic", SSEEvent(b'{"type":"message_delta"}', "message_delta"), False),
        ("openai-chat", SSEEvent(b"[DONE]"), True),
        ("openai-chat", SSEEvent(b'{"error":{"message":"x"}}'), True),
        ("openai-chat", SSEEvent(b'{"choices":[]}'), False),
        ("openai-responses", SSEEvent(b"{}", "response.completed"), True),
        ("openai-responses", SSEEvent(b'{"type":"response.incomplete"}'), True),
        ("openai-responses", SSEEvent(b"{}", "response.output_text.delta"), False),
        ("gemini", SSEEvent(b'{"candidates":[{"finishReason":"STOP"}]}'), True),
        ("gemini", SSEEvent(b'{"candidates":[{"content":{}}]}'), False),
    ],
)
def test_ends_stream(fmt: str, event: SSEEvent, ends: bool) -> None:
    assert ends_stream(fmt, event) is ends  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fmt", "event", "error"),
    [
        ("anthropic", SSEEvent(b'{"type":"error","error":{}}', "error"), True),
        ("anthropic", SSEEvent(b'{"type":"message_stop"}', "message_stop"), False),
        ("openai-chat", SSEEvent(b'{"error":{"message":"x"}}'), True),
        ("openai-chat", SSEEvent(b"[DONE]"), False),
        ("openai-responses", SSEEvent(b"{}", "response.failed"), True),
        ("openai-responses", SSEEvent(b"{}", "response.completed"), False),
        ("gemini", SSEEvent(b'{"error":{"code":500}}'), True),
        ("gemini", SSEEvent(b'{"candidates":[{"finishReason":"STOP"}]}'), False),
    ],
)
def test_is_error_event(fmt: str, event: SSEEvent, error: bool) -> None:
    assert is_error_event(fmt, event) is error  # type: ignore[arg-type]
