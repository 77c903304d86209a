"""Stream renderers write their delta events as bytes directly (most of a stream is deltas):
those bytes are what the JSON encoder gives (compact, canonical) and carry the text unchanged,
whatever it holds (quotes, backslashes, control characters, any Unicode)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from cal.formats import ApiFormat
from cal.sse import SSEDecoder
from cal.transform import TranslationContext, load_codec
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
)

CLIENTS: list[ApiFormat] = ["anthropic", "openai-chat", "openai-responses", "gemini"]


def _stream(text: str) -> list[StreamEvent]:
    return [
        MessageStart(id="up_1", model="up-m"),
        BlockStart(index=0, kind="thinking", origin="openai-chat"),
        ThinkingDelta(index=0, text=text),
        BlockStop(index=0),
        BlockStart(index=1, kind="text"),
        TextDelta(index=1, text=text),
        TextDelta(index=1, text=text),
        BlockStop(index=1),
        BlockStart(index=2, kind="tool_call", id="call_1", name="f"),
        ToolArgsDelta(index=2, fragment=text),
        BlockStop(index=2),
        Finish(stop_reason="tool_use"),
    ]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize("client", CLIENTS)
@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=1, max_size=40))
def test_rendered_events_are_canonical_json_carrying_the_text(client: ApiFormat, text: str) -> None:
    ctx = TranslationContext(
        request_id="t", client_model='client "m"', upstream_model="up-m", include_usage=True
    )
    renderer = load_codec(client).stream_renderer(ctx)
    out = [chunk for event in _stream(text) for chunk in renderer.render(event)]
    out += renderer.close()
    seen: set[str] = set()
    for event in SSEDecoder().feed(b"".join(out)):
        if event.data == b"[DONE]":
            continue
        doc = msgspec.json.decode(event.data)
        assert msgspec.json.encode(doc) == event.data
        if event.event is not None:
            assert doc["type"] == event.event
        seen.update(_strings(doc))
    assert text in seen
