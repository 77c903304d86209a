"""Malformed input never crashes the Responses and Gemini codecs: a request either parses or is a
TranslationError (→ 400); a stream event either translates or is noted and skipped; a body either
parses or raises TranslationError. Hypothesis builds JSON around the real field names."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings, strategies as st

from cal.sse import SSEEvent
from cal.transform import (
    TranslationContext,
    TranslationError,
    gemini as gemini_codec,
    openai_responses as responses_codec,
)

KEYS = [
    "type",
    "role",
    "content",
    "text",
    "input",
    "output",
    "call_id",
    "name",
    "arguments",
    "id",
    "summary",
    "encrypted_content",
    "tools",
    "item",
    "part",
    "delta",
    "response",
    "usage",
    "status",
    "error",
    "code",
    "message",
    "parts",
    "functionCall",
    "functionResponse",
    "args",
    "thought",
    "thoughtSignature",
    "inlineData",
    "fileData",
    "candidates",
    "finishReason",
    "usageMetadata",
    "contents",
    "systemInstruction",
    "generationConfig",
    "thinkingConfig",
    "toolConfig",
    "functionDeclarations",
    "parameters",
    "image_url",
    "instructions",
    "reasoning",
    "tool_choice",
    "output_index",
    "incomplete_details",
    "promptFeedback",
    "namespace",
]
TYPES = [
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "reasoning",
    "additional_tools",
    "input_text",
    "input_image",
    "input_file",
    "output_text",
    "namespace",
    "function",
    "custom",
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.function_call_arguments.delta",
    "response.reasoning_summary_text.delta",
    "response.output_item.done",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
    "user",
    "model",
    "assistant",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(TYPES), st.text(max_size=4)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)
documents = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)


def _ctx() -> TranslationContext:
    return TranslationContext(request_id="f", client_model="m", upstream_model="u", stream=True)


def _tolerant(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except TranslationError:
        pass


@settings(max_examples=120, deadline=None)
@given(documents)
def test_requests_parse_or_refuse(doc: dict[str, Any]) -> None:
    body = msgspec.json.encode(doc)
    for codec in (responses_codec.CODEC, gemini_codec.CODEC):
        ctx = _ctx()
        try:
            request = codec.parse_request(body, ctx)
        except TranslationError:
            continue
        for target in (responses_codec.CODEC, gemini_codec.CODEC):
            _tolerant(target.render_request, request, _ctx())


@settings(max_examples=120, deadline=None)
@given(st.lists(documents, max_size=6))
def test_stream_events_translate_or_are_skipped(docs: list[dict[str, Any]]) -> None:
    for codec in (responses_codec.CODEC, gemini_codec.CODEC):
        parser = codec.stream_parser(_ctx())
        for doc in docs:
            parser.feed(SSEEvent(data=msgspec.json.encode(doc), event=doc.get("type")))  # type: ignore[arg-type]
        parser.end()


@settings(max_examples=120, deadline=None)
@given(documents)
def test_bodies_parse_or_fail_cleanly(doc: dict[str, Any]) -> None:
    body = msgspec.json.encode(doc)
    for codec in (responses_codec.CODEC, gemini_codec.CODEC):
        _tolerant(codec.parse_response, body, _ctx())
        codec.parse_error(400, body)
