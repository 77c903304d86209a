"""The mock's OpenAI Chat Completions API, checked with the official SDK and raw chunks."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import trio

from cal.sse import SSEDecoder

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "metric": {"type": "boolean"}},
            "required": ["city", "metric"],
        },
    },
}
CLOCK_TOOL = {
    "type": "function",
    "function": {"name": "read_clock", "parameters": {"type": "object"}},
}


def _client(served: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.openai_url, api_key="test-key", max_retries=0)


async def _in_thread(fn: Any) -> Any:
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(fn)


async def test_sdk_create_returns_text_and_usage(served: Any) -> None:
    def call() -> Any:
        return _client(served).chat.completions.create(
            model="mock-gpt",
            messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": "Hello"}],
            reasoning_effort="low",
            prompt_cache_key="k1",
        )

    completion = await _in_thread(call)
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.message.content == "Hello from the cal mock provider. You said: Hello"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens > 0
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens


async def test_sdk_stream_accumulates_tool_calls_and_usage(served: Any) -> None:
    def call() -> Any:
        with _client(served).chat.completions.stream(
            model="mock-gpt",
            messages=[{"role": "user", "content": "call the tools in parallel"}],
            tools=[WEATHER_TOOL, CLOCK_TOOL],
            stream_options={"include_usage": True},
        ) as stream:
            return stream.get_final_completion()

    completion = await _in_thread(call)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "mock", "metric": True}),
        ("read_clock", {}),
    ]
    assert all(c.id.startswith("call_") for c in calls)
    assert completion.usage is not None and completion.usage.completion_tokens > 0


async def test_sdk_stream_text(served: Any) -> None:
    def call() -> Any:
        with _client(served).chat.completions.stream(
            model="mock-gpt", messages=[{"role": "user", "content": "stream it"}]
        ) as stream:
            return stream.get_final_completion()

    completion = await _in_thread(call)
    assert completion.choices[0].message.content.endswith("You said: stream it")
    assert completion.usage is None  # no include_usage, no usage chunk


async def _raw_chunks(served: Any, body: dict[str, Any]) -> list[bytes]:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{served.openai_url}/chat/completions", json=body)
    assert response.status_code == 200
    return [event.data for event in SSEDecoder().feed(response.content)]


async def test_usage_chunk_only_with_include_usage(served: Any) -> None:
    base = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    plain = await _raw_chunks(served, base)
    assert plain[-1] == b"[DONE]"
    assert all("usage" not in json.loads(data) for data in plain[:-1])
    with_usage = await _raw_chunks(served, base | {"stream_options": {"include_usage": True}})
    chunks = [json.loads(data) for data in with_usage[:-1]]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"


async def test_tool_message_answer_mentions_result(served: Any) -> None:
    messages = [
        {"role": "user", "content": "weather tool"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]

    def call() -> Any:
        return _client(served).chat.completions.create(
            model="m", messages=messages, tools=[WEATHER_TOOL]
        )

    completion = await _in_thread(call)
    assert completion.choices[0].message.content.endswith("The tool returned: 18C")


async def test_model_list_is_openai_shaped_without_anthropic_version(served: Any) -> None:
    models = await _in_thread(lambda: [m.id for m in _client(served).models.list()])
    assert "mock-gpt" in models
