"""Reading usage, model and stop reason from what an upstream answered, per format."""

from __future__ import annotations

from pathlib import Path

import pytest

from cal.formats import ApiFormat, parse_format
from cal.sse import SSEDecoder
from cal.transform import TranslationContext, load_codec
from cal.transform.ir import Finish, MessageStart, UsageUpdate
from cal.usage.extract import AnswerSummary, summarize_body, summarize_events

ANTHROPIC_BODY = (
    b'{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":'
    b'[{"type":"text","text":"hi"}],"stop_reason":"max_tokens","stop_sequence":null,'
    b'"usage":{"input_tokens":10,"cache_read_input_tokens":90,"cache_creation_input_tokens":5,'
    b'"output_tokens":7}}'
)
CHAT_STREAM = [
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-x",'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":"hi"},"finish_reason":null}]}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-x",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[],'
    b'"usage":{"prompt_tokens":100,"completion_tokens":3,"total_tokens":103,'
    b'"prompt_tokens_details":{"cached_tokens":60}}}\n\n',
    b"data: [DONE]\n\n",
]


def test_anthropic_body() -> None:
    summary = summarize_body("anthropic", ANTHROPIC_BODY)
    assert summary.model == "claude-x"
    assert summary.finish_reasons == ["max_tokens"]
    assert summary.usage is not None
    assert (summary.usage.uncached_in, summary.usage.cache_read, summary.usage.cache_write) == (
        10,
        90,
        5,
    )
    assert summary.usage.out_total == 7


def test_chat_stream_without_double_counting_cache() -> None:
    summary = summarize_events("openai-chat", CHAT_STREAM)
    assert summary.model == "gpt-x"
    assert summary.finish_reasons == ["end_turn"]
    assert summary.usage is not None
    assert (summary.usage.uncached_in, summary.usage.cache_read, summary.usage.out_total) == (
        40,
        60,
        3,
    )


def test_garbage_gives_an_empty_summary() -> None:
    assert summarize_body("gemini", b"not json").usage is None
    assert summarize_events("anthropic", [b"data: {broken\n\n"]).finish_reasons == []


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transform"


def _recorded_streams() -> list[tuple[ApiFormat, Path]]:
    """Every stream of the golden fixtures, in the API it is written in."""
    out: list[tuple[ApiFormat, Path]] = []
    for route in sorted(FIXTURES.glob("*_via_*")):
        client, upstream = route.name.split("_via_")
        out += [(parse_format(upstream), p) for p in sorted(route.glob("*/upstream_stream.sse"))]
        out += [(parse_format(client), p) for p in sorted(route.glob("*/expected_client_*.sse"))]
    return out


def _whole_reading(fmt: ApiFormat, raws: list[bytes]) -> AnswerSummary:
    """Every event through the codec's parser: what the quick reading must agree with."""
    summary = AnswerSummary()
    ctx = TranslationContext(request_id="t", client_model="", upstream_model="")
    parser = load_codec(fmt).stream_parser(ctx)
    events = [e for raw in raws for e in SSEDecoder().feed(raw)]
    for parsed in [p for event in events for p in parser.feed(event)] + parser.end():
        if isinstance(parsed, MessageStart):
            summary.model = parsed.model or summary.model
            summary.usage = parsed.usage if parsed.usage is not None else summary.usage
        elif isinstance(parsed, UsageUpdate):
            summary.usage = parsed.usage
        elif isinstance(parsed, Finish):
            summary.finish_reasons.append(parsed.stop_reason)
    return summary


@pytest.mark.parametrize(("fmt", "path"), _recorded_streams(), ids=lambda v: str(v)[-60:])
def test_reading_only_the_carriers_agrees_with_reading_everything(
    fmt: ApiFormat, path: Path
) -> None:
    decoder = SSEDecoder()
    raws = [e.raw for e in decoder.feed(path.read_bytes()) + decoder.close()]
    assert summarize_events(fmt, raws) == _whole_reading(fmt, raws)


def test_events_shaped_unlike_the_provider_are_read_whole() -> None:
    # no event lines, "type" not first: the byte test keeps nothing, the whole stream is read
    raws = [
        b'data: {"message":{"model":"claude-x","usage":{"input_tokens":5}},"type":"message_start"}\n\n',
        b'data: {"delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2},'
        b'"type":"message_delta"}\n\n',
    ]
    summary = summarize_events("anthropic", raws)
    assert (summary.model, summary.finish_reasons) == ("claude-x", ["end_turn"])
    assert summary.usage is not None and summary.usage.out_total == 2


def test_chat_tool_calls_decide_the_stop_reason() -> None:
    # some servers end a turn of tool calls with finish_reason "stop": the calls make it tool_use
    call = (
        b'data: {"id":"c1","model":"gpt-x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
        b'"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},'
        b'"finish_reason":null}]}\n\n'
    )
    summary = summarize_events("openai-chat", [CHAT_STREAM[0], call, *CHAT_STREAM[1:]])
    assert summary.finish_reasons == ["tool_use"]
