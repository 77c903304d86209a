"""Per route: a stream and a body carrying the same answer give the client the same final message.

The upstream's answer is synthesised from a random IR response with the upstream codec's own
renderers (so each codec's four directions are exercised), split into random byte chunks,
translated by the route, then read back with the client codec's parsers.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cal.formats import ApiFormat
from cal.sse import SSEDecoder
from cal.transform import Route, TranslationContext, available_routes, lookup
from cal.transform.accumulate import Accumulator
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    Part,
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

ROUTES = available_routes()
NAMES = ("get_weather", "read_file", "run")

words = st.text(alphabet="abcdefgh xyz.,é€\n\"'{}", min_size=1, max_size=20)
args = st.dictionaries(
    st.sampled_from(["city", "path", "n", "flag"]),
    st.one_of(st.integers(-5, 5), words, st.booleans()),
    max_size=3,
)


@st.composite
def responses(draw: st.DrawFn) -> Response:
    """A plausible upstream answer: [thinking], text…, tool calls…, consistent stop and usage."""
    parts: list[Part] = []
    if draw(st.booleans()):
        parts.append(Thinking(text=draw(words), signature="c2lnbmF0dXJl", origin="anthropic"))
    parts += [Text(text=t) for t in draw(st.lists(words, max_size=2))]
    calls = draw(st.lists(st.tuples(st.sampled_from(NAMES), args), max_size=3))
    for i, (name, arguments) in enumerate(calls):
        parts.append(ToolCall(id=f"call_{i}x", name=name, arguments=json.dumps(arguments)))
    if not parts:
        parts.append(Text(text="ok"))
    stop = "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens"]))
    reasoning = draw(st.integers(0, 50))
    usage = Usage(
        uncached_in=draw(st.integers(0, 5000)),
        cache_read=draw(st.integers(0, 5000)),
        cache_write=0,
        out_total=reasoning + draw(st.integers(1, 500)),
        reasoning=reasoning,
    )
    return Response(id="up_1", model="up-model", content=parts, stop_reason=stop, usage=usage)


def events_of(resp: Response) -> list[StreamEvent]:
    """The IR stream an upstream would send for `resp`."""
    out: list[StreamEvent] = [MessageStart(id=resp.id, model=resp.model)]
    for i, p in enumerate(resp.content):
        if isinstance(p, Text):
            out += [BlockStart(index=i, kind="text"), TextDelta(index=i, text=p.text)]
        elif isinstance(p, Thinking):
            out += [
                BlockStart(index=i, kind="thinking", origin=p.origin),
                ThinkingDelta(index=i, text=p.text),
                SignatureDelta(index=i, signature=p.signature or "", origin=p.origin),
            ]
        elif isinstance(p, ToolCall):
            out.append(BlockStart(index=i, kind="tool_call", id=p.id, name=p.name))
            half = len(p.arguments) // 2
            out += [
                ToolArgsDelta(index=i, fragment=p.arguments[:half]),
                ToolArgsDelta(index=i, fragment=p.arguments[half:]),
            ]
        out.append(BlockStop(index=i))
    return [*out, Finish(stop_reason=resp.stop_reason), UsageUpdate(usage=resp.usage)]


def _ctx(model: str) -> TranslationContext:
    counter = iter(range(1, 100_000))
    ctx = TranslationContext(
        request_id="r",
        client_model=model,
        upstream_model="up-model",
        stream=True,
        now=lambda: 1795272466,
        new_id=lambda prefix: f"{prefix}{next(counter)}",
    )
    ctx.include_usage = True
    return ctx


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    return [*pieces, data[last:]]


def _decode(data: bytes, cuts: list[int]) -> list[Any]:
    decoder = SSEDecoder()
    events = []
    for piece in _split(data, cuts):
        events += decoder.feed(piece)
    return events + decoder.close()


def via_body(route: Route, resp: Response) -> Response:
    body = route.upstream.render_response(resp, _ctx("up-model"))
    client_body = route.translate_response(body, _ctx("client-model"))
    return route.client.parse_response(client_body, _ctx("client-model"))


def via_stream(route: Route, resp: Response, cuts: list[int]) -> Response:
    renderer = route.upstream.stream_renderer(_ctx("up-model"))
    upstream = b"".join(b"".join(renderer.render(ev)) for ev in events_of(resp))
    upstream += b"".join(renderer.close())
    translator = route.stream_translator(_ctx("client-model"))
    client: list[bytes] = []
    for event in _decode(upstream, cuts):
        client += translator.feed(event)
    client += translator.finish()
    parser = route.client.stream_parser(_ctx("client-model"))
    acc = Accumulator()
    for event in _decode(b"".join(client), cuts[::-1]):
        acc.extend(parser.feed(event))
    acc.extend(parser.end())
    assert acc.error is None, acc.error
    return acc.response()


def summary(resp: Response) -> dict[str, Any]:
    """What every route must carry: text, thinking text, tool calls, stop, usage totals."""
    calls = [
        (p.name, json.loads(p.arguments or "{}")) for p in resp.content if isinstance(p, ToolCall)
    ]
    u = resp.usage
    return {
        "text": "".join(p.text for p in resp.content if isinstance(p, Text)),
        "thinking": "".join(p.text for p in resp.content if isinstance(p, Thinking)),
        "calls": calls,
        "stop": resp.stop_reason,
        "input": u.input_total(),
        "output": u.out_total,
        "cache_read": u.cache_read,
    }


@pytest.mark.parametrize(("client", "upstream"), ROUTES, ids=lambda f: str(f))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resp=responses(), cuts=st.lists(st.integers(0, 10_000), max_size=8))
def test_stream_and_body_agree(
    client: ApiFormat, upstream: ApiFormat, resp: Response, cuts: list[int]
) -> None:
    route = lookup(client, upstream)
    original = msgspec.structs.replace(resp)
    by_body = summary(via_body(route, resp))
    by_stream = summary(via_stream(route, resp, cuts))
    assert by_stream == by_body
    expected = summary(original)
    assert by_body["text"] == expected["text"]
    assert by_body["calls"] == expected["calls"]
    assert by_body["output"] == expected["output"]
    assert by_body["input"] == expected["input"]


def test_routes_present() -> None:
    assert ("anthropic", "openai-chat") in ROUTES
    assert ("openai-chat", "anthropic") in ROUTES
