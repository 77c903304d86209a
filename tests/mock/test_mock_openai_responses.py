"""The mock's OpenAI Responses API, checked with the official SDK and with Codex's request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import trio

from cal.sse import SSEDecoder

CAPTURES = Path("/work/shared/reference/captures")
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "strict": False,
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "number"}},
        "required": ["city", "days"],
    },
}


def _client(served: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.openai_url, api_key="test-key", max_retries=0)


async def _in_thread(fn: Any) -> Any:
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(fn)


async def test_sdk_create_returns_text_and_usage(served: Any) -> None:
    def call() -> Any:
        return _client(served).responses.create(model="mock-gpt", input="Hello Responses")

    response = await _in_thread(call)
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == "Hello from the cal mock provider. You said: Hello Responses"
    assert response.output[0].id.startswith("msg_")
    usage = response.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0


async def test_sdk_stream_reasoning_with_encrypted_content_then_text(served: Any) -> None:
    def call() -> tuple[Any, list[str]]:
        with _client(served).responses.stream(
            model="mock-gpt",
            input=[{"role": "user", "content": [{"type": "input_text", "text": "think first"}]}],
            reasoning={"effort": "low", "summary": "auto"},
            include=["reasoning.encrypted_content"],
            prompt_cache_key="session-1",
        ) as stream:
            kinds = [event.type for event in stream]
            return stream.get_final_response(), kinds

    response, kinds = await _in_thread(call)
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.reasoning_summary_text.delta" in kinds
    reasoning, message = response.output
    assert message.type == "message"
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary[0].text.startswith("Mock reasoning about: think first")
    assert reasoning.encrypted_content
    assert response.output_text.endswith("You said: think first")
    usage = response.usage
    assert usage.input_tokens_details.cached_tokens > 0
    assert 0 < usage.output_tokens_details.reasoning_tokens < usage.output_tokens


async def test_reasoning_without_include_has_summary_only(served: Any) -> None:
    def call() -> Any:
        return _client(served).responses.create(model="m", input="hi", reasoning={"effort": "low"})

    response = await _in_thread(call)
    assert response.output[0].type == "reasoning"
    assert response.output[0].summary
    assert response.output[0].encrypted_content is None


async def test_sdk_stream_function_call_arguments(served: Any) -> None:
    def call() -> Any:
        with _client(served).responses.stream(
            model="mock-gpt", input="use the tool", tools=[WEATHER_TOOL]
        ) as stream:
            return stream.get_final_response()

    response = await _in_thread(call)
    (item,) = response.output
    assert item.type == "function_call"
    assert item.id.startswith("fc_") and item.call_id.startswith("call_")
    assert (item.name, json.loads(item.arguments)) == ("get_weather", {"city": "mock", "days": 1})


async def test_function_call_output_is_mentioned(served: Any) -> None:
    items = [
        {"role": "user", "content": "weather tool"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    ]

    def call() -> Any:
        return _client(served).responses.create(model="m", input=items, tools=[WEATHER_TOOL])

    response = await _in_thread(call)
    assert response.output_text.endswith("The tool returned: 18C")


async def test_sequence_numbers_count_from_zero(served: Any) -> None:
    body = {"model": "m", "input": "hi", "stream": True}
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{served.openai_url}/responses", json=body)
    events = SSEDecoder().feed(response.content)
    payloads = [json.loads(e.data) for e in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert all(p["type"] == e.event for p, e in zip(payloads, events, strict=True))


async def test_input_tokens_route(served: Any) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{served.openai_url}/responses/input_tokens", json={"model": "m", "input": "count"}
            )
    payload = response.json()
    assert payload["object"] == "response.input_tokens"
    assert payload["input_tokens"] > 0


def _codex_capture() -> dict[str, Any]:
    path = CAPTURES / "codex-0.169.0_responses_http.json"
    if not path.exists():
        pytest.skip(f"capture {path} not available")
    return json.loads(path.read_text())


async def _post_capture(served: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    capture = _codex_capture()
    headers = [(k, v) for k, v in capture["headers"] if k.lower() not in ("host", "content-length")]
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{served.url}{capture['path']}", content=json.dumps(body), headers=headers
            )
    assert response.status_code == 200
    return [json.loads(event.data) for event in SSEDecoder().feed(response.content)]


async def test_codex_capture_gets_a_valid_stream(served: Any) -> None:
    body = _codex_capture()["body"]
    events = await _post_capture(served, body)
    assert events[0]["type"] == "response.created"
    final = events[-1]
    assert final["type"] == "response.completed"
    output = final["response"]["output"]
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["encrypted_content"]  # Codex asks for reasoning.encrypted_content
    assert output[1]["content"][0]["text"] == "Hello from the cal mock provider. You said: hi"
    assert final["response"]["usage"]["input_tokens_details"]["cached_tokens"] > 0
    assert final["response"]["parallel_tool_calls"] is False


async def test_codex_additional_tools_are_callable(served: Any) -> None:
    body = _codex_capture()["body"]
    body["input"][-1]["content"][0]["text"] = "run a tool"
    events = await _post_capture(served, body)
    output = events[-1]["response"]["output"]
    call = output[-1]
    assert call["type"] == "custom_tool_call"
    assert (call["name"], call["namespace"], call["input"]) == ("exec", "functions", "mock")
    assert "response.custom_tool_call_input.delta" in [e["type"] for e in events]
