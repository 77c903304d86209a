"""Hypothesis, at the wire level of the Responses and Gemini *client* renderers: for any answer,
the stream a client receives adds up to exactly the body it would have received.

Responses: the `response` of the terminal event equals the non-stream body, field for field.
Gemini: the chunks' parts, merged as a Gemini client merges them (adjacent texts of one kind),
equal the body's parts, and the last chunk carries the body's finishReason and usageMetadata.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings, strategies as st

from cal.sse import SSEDecoder
from cal.transform import (
    TranslationContext,
    gemini as gemini_codec,
    openai_responses as responses_codec,
)
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    Part,
    Refusal,
    Response,
    SignatureDelta,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
    UsageUpdate,
)

words = st.text(alphabet='ab cdé€\n"{}', min_size=1, max_size=12)
args = st.dictionaries(st.sampled_from(["city", "n"]), st.one_of(words, st.integers()), max_size=2)
origins = st.sampled_from(["anthropic", "openai-chat", "gemini"])


@st.composite
def parts(draw: st.DrawFn) -> Part:
    kind = draw(st.sampled_from(["text", "refusal", "thinking", "call", "custom"]))
    if kind == "text":
        return Text(text=draw(words))
    if kind == "refusal":
        return Refusal(text=draw(words))
    if kind == "thinking":
        signature = draw(st.none() | st.text(alphabet="abcXYZ09", min_size=1, max_size=8))
        return Thinking(text=draw(st.just("") | words), signature=signature, origin=draw(origins))
    if kind == "call":
        return ToolCall(
            id=draw(st.uuids()).hex, name="get_weather", arguments=json.dumps(draw(args))
        )
    return ToolCall(id=draw(st.uuids()).hex, name="exec", arguments=draw(words), kind="custom")


@st.composite
def answers(draw: st.DrawFn) -> Response:
    content = draw(st.lists(parts(), min_size=1, max_size=5))
    reasoning = draw(st.integers(0, 30))
    usage = Usage(
        uncached_in=draw(st.integers(0, 900)),
        cache_read=draw(st.integers(0, 900)),
        cache_write=draw(st.integers(0, 90)),
        out_total=reasoning + draw(st.integers(0, 300)),
        reasoning=reasoning,
    )
    stop = draw(st.sampled_from(["end_turn", "tool_use", "max_tokens", "refusal", "stop_sequence"]))
    return Response(id="up", model="up-model", content=content, stop_reason=stop, usage=usage)


def events_of(resp: Response) -> list[StreamEvent]:
    """The IR stream carrying `resp` (text split in two deltas, arguments in two fragments)."""
    out: list[StreamEvent] = [MessageStart(id=resp.id, model=resp.model)]
    for i, p in enumerate(resp.content):
        if isinstance(p, Text | Refusal):
            half = len(p.text) // 2
            kind = "text" if isinstance(p, Text) else "refusal"
            out += [BlockStart(index=i, kind=kind), TextDelta(index=i, text=p.text[:half])]
            out.append(TextDelta(index=i, text=p.text[half:]))
        elif isinstance(p, Thinking):
            out += [BlockStart(index=i, kind="thinking", origin=p.origin)]
            if p.text:
                out.append(ThinkingDelta(index=i, text=p.text))
            if p.signature:
                out.append(SignatureDelta(index=i, signature=p.signature, origin=p.origin))
        elif isinstance(p, ToolCall):
            out.append(
                BlockStart(index=i, kind="tool_call", id=p.id, name=p.name, tool_kind=p.kind)
            )
            half = len(p.arguments) // 2
            out += [
                ToolArgsDelta(index=i, fragment=p.arguments[:half]),
                ToolArgsDelta(index=i, fragment=p.arguments[half:]),
            ]
        out.append(BlockStop(index=i))
    return [*out, Finish(stop_reason=resp.stop_reason), UsageUpdate(usage=resp.usage)]


def _ctx() -> TranslationContext:
    counter = iter(range(1, 10_000))
    return TranslationContext(
        request_id="p",
        client_model="client-model",
        upstream_model="up-model",
        stream=True,
        now=lambda: 1795272466,
        new_id=lambda prefix: f"{prefix}{next(counter)}",
    )


def _stream(codec: Any, resp: Response) -> list[dict[str, Any]]:
    renderer = codec.stream_renderer(_ctx())
    out = [b for ev in events_of(resp) for b in renderer.render(ev)] + renderer.close()
    decoder = SSEDecoder()
    return [json.loads(e.data) for e in decoder.feed(b"".join(out)) + decoder.close()]


@settings(max_examples=120, deadline=None)
@given(answers())
def test_responses_stream_adds_up_to_the_body(resp: Response) -> None:
    body = json.loads(responses_codec.CODEC.render_response(resp, _ctx()))
    events = _stream(responses_codec.CODEC, resp)
    assert events[-1]["type"] in ("response.completed", "response.incomplete")
    assert events[-1]["response"] == body
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert done == body["output"]


def _merged(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parts as a client accumulates them: adjacent unsigned texts of one kind joined, empty
    unsigned texts dropped."""
    out: list[dict[str, Any]] = []
    for part in parts:
        plain = set(part) <= {"text", "thought"}
        if plain and not part["text"]:
            continue
        last = out[-1] if out else None
        joinable = plain and last is not None and set(last) <= {"text", "thought"}
        if joinable and last is not None and last.get("thought") == part.get("thought"):
            last["text"] += part["text"]
            continue
        out.append(dict(part))
    return out


@settings(max_examples=120, deadline=None)
@given(answers())
def test_gemini_stream_adds_up_to_the_body(resp: Response) -> None:
    body = json.loads(gemini_codec.CODEC.render_response(resp, _ctx()))
    chunks = _stream(gemini_codec.CODEC, resp)
    streamed = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    assert _merged(streamed) == _merged(body["candidates"][0]["content"]["parts"])
    last = chunks[-1]
    assert last["candidates"][0]["finishReason"] == body["candidates"][0]["finishReason"]
    assert last["usageMetadata"] == body["usageMetadata"]
    assert {c["responseId"] for c in chunks} == {body["responseId"]}
