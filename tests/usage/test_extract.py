"""Reading usage, model and stop reason from what an upstream answered, per format."""

from __future__ import annotations

from cal.usage.extract import summarize_body, summarize_events

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
