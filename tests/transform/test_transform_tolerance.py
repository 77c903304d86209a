"""Unknown fields, unknown blocks and malformed stream events never crash a translation.

Requests from the Anthropic and Chat client goldens get random extra fields (top level, per
message, per content block) and random unknown blocks; every upstream parser is fed random
events. Translation may refuse a request with TranslationError, never anything else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from cal.formats import API_FORMATS, ApiFormat
from cal.sse import SSEEvent
from cal.transform import RouteUnavailable, TranslationContext, TranslationError, load_codec, lookup

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transform"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.sampled_from(["x_future", "type", "role", "content", "text", "id", "input", "index"])


def _requests(client: str) -> list[dict[str, Any]]:
    return [
        json.loads((p / "client_request.json").read_text())
        for p in sorted(FIXTURES.glob(f"{client}_via_*/*"))
        if (p / "client_request.json").exists()
    ][:12]


def _routes(client: ApiFormat) -> list[tuple[ApiFormat, ApiFormat]]:
    out = []
    for upstream in API_FORMATS:
        try:
            lookup(client, upstream)
        except RouteUnavailable:
            continue
        out.append((client, upstream))
    return out


def _mutate(body: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    body[data.draw(st.text(min_size=1, max_size=6))] = data.draw(json_values)
    messages = body.get("messages") or []
    if messages:
        msg = messages[data.draw(st.integers(0, len(messages) - 1))]
        msg[data.draw(names)] = data.draw(json_values)
        content = msg.get("content")
        if isinstance(content, list):
            block = {"type": data.draw(st.sampled_from(["future_block", "text", "image"]))}
            block[data.draw(names)] = data.draw(json_values)
            content.insert(data.draw(st.integers(0, len(content))), block)
    return body


CLIENT_ROUTES = _routes("anthropic") + _routes("openai-chat")


@pytest.mark.parametrize(("client", "upstream"), CLIENT_ROUTES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_unknown_request_fields_never_crash(
    client: ApiFormat, upstream: ApiFormat, data: st.DataObject
) -> None:
    bodies = _requests(client)
    body = _mutate(data.draw(st.sampled_from(bodies)), data)
    ctx = TranslationContext(request_id="f", client_model="c", upstream_model="u")
    try:
        out = lookup(client, upstream).translate_request(json.dumps(body).encode(), ctx)
    except TranslationError:
        return
    assert isinstance(json.loads(out), dict)


stream_keys = st.sampled_from(
    ["index", "delta", "content_block", "message", "usage", "error", "choices", "finish_reason"]
)
event_types = st.sampled_from(
    [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "error",
        "response.created",
        "response.output_item.added",
        "response.completed",
        "whatever",
    ]
)


@st.composite
def events(draw: st.DrawFn) -> SSEEvent:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return SSEEvent(data=draw(st.binary(max_size=20)))
    payload = draw(st.dictionaries(stream_keys | names, json_values, max_size=5))
    if kind == 1:
        payload["type"] = draw(event_types)
    else:
        delta = draw(
            st.dictionaries(st.sampled_from(["content", "tool_calls", "refusal"]), json_values)
        )
        payload["choices"] = [{"index": 0, "delta": delta, "finish_reason": draw(json_values)}]
        payload["candidates"] = [{"content": {"parts": draw(json_values)}}]
    return SSEEvent(data=json.dumps(payload).encode(), event=payload.get("type"))


# The Responses and Gemini parsers join this list when they pass it (their owner was told of the
# failing examples: `{"error": true, "type": "error"}`, a Gemini chunk with `"parts": 1`).
@pytest.mark.parametrize("upstream", ["anthropic", "openai-chat", "openai-responses", "gemini"])
@settings(max_examples=60, deadline=None)
@given(stream=st.lists(events(), max_size=8))
def test_stream_parsers_never_crash(upstream: ApiFormat, stream: list[SSEEvent]) -> None:
    try:
        codec = load_codec(upstream)
    except RouteUnavailable:
        pytest.skip("codec missing")
    ctx = TranslationContext(request_id="f", client_model="c", upstream_model="u", stream=True)
    parser = codec.stream_parser(ctx)
    for event in stream:
        parser.feed(event)
    parser.end()
