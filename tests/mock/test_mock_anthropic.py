"""The mock's Anthropic Messages API, checked with the official SDK and with Claude Code's request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import trio

from cal.sse import SSEDecoder

CAPTURES = Path("/work/shared/reference/captures")
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
}
CLOCK_TOOL = {"name": "read_clock", "input_schema": {"type": "object", "properties": {}}}


def _client(served: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=served.url, api_key="test-key", max_retries=0)


async def _in_thread(fn: Any) -> Any:
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(fn)


async def test_sdk_create_returns_text_and_usage(served: Any) -> None:
    def call() -> anthropic.types.Message:
        return _client(served).messages.create(
            model="mock-claude", max_tokens=100, messages=[{"role": "user", "content": "Hi there"}]
        )

    message = await _in_thread(call)
    assert message.id.startswith("msg_")
    assert message.model == "mock-claude"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello from the cal mock provider. You said: Hi there"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.output_tokens > 0


async def test_sdk_stream_accumulates_thinking_text_and_tool_call(served: Any) -> None:
    def call() -> tuple[anthropic.types.Message, list[str]]:
        with _client(served).messages.stream(
            model="mock-claude",
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 1024},
            system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
            tools=[WEATHER_TOOL, CLOCK_TOOL],
            messages=[
                {"role": "user", "content": [{"type": "text", "text": "check the weather tool"}]}
            ],
        ) as stream:
            kinds = [event.type for event in stream]
            return stream.get_final_message(), kinds

    message, kinds = await _in_thread(call)
    assert kinds[0] == "message_start"
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    thinking, text, tool = message.content
    assert thinking.thinking.startswith("Mock reasoning about: check the weather tool")
    assert thinking.signature.startswith("mocksig_")
    assert text.text == "I will call get_weather."
    assert tool.id.startswith("toolu_")
    assert (tool.name, tool.input) == ("get_weather", {"city": "mock", "days": 1})
    assert message.stop_reason == "tool_use"
    usage = message.usage
    assert usage.cache_read_input_tokens and usage.cache_creation_input_tokens
    assert usage.cache_read_input_tokens > usage.input_tokens


async def test_sdk_stream_parallel_tools(served: Any) -> None:
    def call() -> anthropic.types.Message:
        with _client(served).messages.stream(
            model="m",
            max_tokens=100,
            tools=[WEATHER_TOOL, CLOCK_TOOL],
            messages=[{"role": "user", "content": "use parallel tools"}],
        ) as stream:
            return stream.get_final_message()

    message = await _in_thread(call)
    tools = [block for block in message.content if block.type == "tool_use"]
    assert [(t.name, t.input) for t in tools] == [
        ("get_weather", {"city": "mock", "days": 1}),
        ("read_clock", {}),
    ]
    assert len({t.id for t in tools}) == 2


async def test_tool_result_turn_mentions_the_result(served: Any) -> None:
    messages = [
        {"role": "user", "content": "weather tool please"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C and sunny"}
            ],
        },
    ]

    def call() -> anthropic.types.Message:
        with _client(served).messages.stream(
            model="m", max_tokens=100, tools=[WEATHER_TOOL], messages=messages
        ) as stream:
            return stream.get_final_message()

    message = await _in_thread(call)
    assert message.stop_reason == "end_turn"
    assert message.content[-1].text.endswith("The tool returned: 18C and sunny")


async def test_omitted_thinking_has_empty_text_and_a_signature(served: Any) -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "stream": True,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "messages": [{"role": "user", "content": "hi"}],
    }
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{served.url}/v1/messages", json=body)
    events = SSEDecoder().feed(response.content)
    deltas = [json.loads(e.data)["delta"] for e in events if e.event == "content_block_delta"]
    assert not [d for d in deltas if d["type"] == "thinking_delta"]
    assert [d["type"] for d in deltas].count("signature_delta") == 1


async def test_count_tokens_and_model_list(served: Any) -> None:
    def call() -> tuple[int, list[str]]:
        client = _client(served)
        count = client.messages.count_tokens(
            model="m", messages=[{"role": "user", "content": "count me"}]
        )
        return count.input_tokens, [model.id for model in client.models.list()]

    tokens, models = await _in_thread(call)
    assert tokens > 0
    assert "mock-claude" in models


def _capture(name: str) -> dict[str, Any]:
    path = CAPTURES / name
    if not path.exists():
        pytest.skip(f"capture {path} not available")
    return json.loads(path.read_text())


async def test_claude_code_capture_gets_a_valid_stream(served: Any) -> None:
    capture = _capture("claude-code-2.1.330_messages.json")
    headers = [(k, v) for k, v in capture["headers"] if k.lower() not in ("host", "content-length")]
    body = json.dumps(capture["body"]).encode()
    url = f"{served.url}{capture['path']}?{capture['query']}"
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = SSEDecoder().feed(response.content)
    names = [e.event for e in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert all(json.loads(e.data)["type"] == e.event for e in events)
    start = json.loads(events[0].data)["message"]
    assert start["model"] == "claude-opus-5-5"
    assert start["usage"]["cache_read_input_tokens"] > 0  # the capture carries cache_control
    blocks = [
        json.loads(e.data)["content_block"] for e in events if e.event == "content_block_start"
    ]
    assert [b["type"] for b in blocks] == ["thinking", "text"]  # adaptive thinking, display omitted
    text = "".join(
        json.loads(e.data)["delta"].get("text", "")
        for e in events
        if e.event == "content_block_delta"
    )
    assert text.startswith("Hello from the cal mock provider. You said: ")
    assert served.provider.received[-1].body == body
    assert served.provider.received[-1].query_string == "beta=true"
