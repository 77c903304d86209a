"""Every client API through every other upstream API, judged by the official SDKs.

Each test runs the real gateway in front of the real mock provider; the client's SDK (or, for
Gemini, a REST client with an SSE reader) must parse the translated answer, streamed and not,
and find the expected text, tool call arguments and usage.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio

from cal.formats import API_FORMATS
from cal.sse import SSEDecoder

PROMPT = "Translate me through the gateway please"
TOOL_PROMPT = "Use the tool for Paris"
ROUTES = [(c, u) for c, u in itertools.product(API_FORMATS, API_FORMATS) if c != u]
TOOL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "the city"}},
    "required": ["city"],
}


class Answer:
    def __init__(self, text: str, calls: list[tuple[str, dict[str, Any]]], output_tokens: int):
        self.text, self.calls, self.output_tokens = text, calls, output_tokens


def _anthropic(base: str, stream: bool, tools: bool) -> Answer:
    client = anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0, timeout=20)
    kwargs: dict[str, Any] = {
        "model": "client-model",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": TOOL_PROMPT if tools else PROMPT}],
    }
    if tools:
        kwargs["tools"] = [
            {"name": "get_weather", "description": "weather", "input_schema": TOOL_SCHEMA}
        ]
    if stream:
        with client.messages.stream(**kwargs) as events:
            message = events.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    text = "".join(b.text for b in message.content if b.type == "text")
    calls = [(b.name, dict(b.input)) for b in message.content if b.type == "tool_use"]  # type: ignore[arg-type]
    return Answer(text, calls, message.usage.output_tokens)


def _chat(base: str, stream: bool, tools: bool) -> Answer:
    client = openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=0, timeout=20)
    kwargs: dict[str, Any] = {
        "model": "client-model",
        "messages": [{"role": "user", "content": TOOL_PROMPT if tools else PROMPT}],
    }
    if tools:
        kwargs["tools"] = [
            {"type": "function", "function": {"name": "get_weather", "parameters": TOOL_SCHEMA}}
        ]
    if stream:
        with client.chat.completions.stream(
            **kwargs, stream_options={"include_usage": True}
        ) as events:
            completion = events.get_final_completion()
    else:
        completion = client.chat.completions.create(**kwargs)
    message = completion.choices[0].message
    calls = [
        (c.function.name, json.loads(c.function.arguments))
        for c in message.tool_calls or []
        if c.type == "function"
    ]
    usage = completion.usage
    return Answer(message.content or "", calls, usage.completion_tokens if usage else 0)


def _responses(base: str, stream: bool, tools: bool) -> Answer:
    client = openai.OpenAI(base_url=base + "/v1", api_key="sk-test", max_retries=0, timeout=20)
    kwargs: dict[str, Any] = {"model": "client-model", "input": TOOL_PROMPT if tools else PROMPT}
    if tools:
        kwargs["tools"] = [
            {"type": "function", "name": "get_weather", "parameters": TOOL_SCHEMA, "strict": False}
        ]
    if stream:
        with client.responses.stream(**kwargs) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**kwargs)
    calls = [
        (item.name, json.loads(item.arguments))
        for item in response.output
        if item.type == "function_call"
    ]
    usage = response.usage
    return Answer(response.output_text, calls, usage.output_tokens if usage else 0)


def _gemini(base: str, stream: bool, tools: bool) -> Answer:
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": TOOL_PROMPT if tools else PROMPT}]}]
    }
    if tools:
        body["tools"] = [
            {"functionDeclarations": [{"name": "get_weather", "parameters": TOOL_SCHEMA}]}
        ]
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    url = f"{base}/v1beta/models/client-model:{action}"
    response = httpx.post(url, json=body, headers={"x-goog-api-key": "AIza-test"}, timeout=20)
    assert response.status_code == 200, response.text
    if stream:
        decoder = SSEDecoder()
        chunks = [json.loads(e.data) for e in decoder.feed(response.content) + decoder.close()]
    else:
        chunks = [response.json()]
    text, calls, output_tokens = "", [], 0
    for chunk in chunks:
        assert "error" not in chunk, chunk
        for part in chunk["candidates"][0].get("content", {}).get("parts", []):
            if "text" in part and not part.get("thought"):
                text += part["text"]
            if "functionCall" in part:
                calls.append((part["functionCall"]["name"], part["functionCall"].get("args", {})))
        output_tokens = chunk.get("usageMetadata", {}).get("candidatesTokenCount", output_tokens)
    return Answer(text, calls, output_tokens)


CLIENTS = {
    "anthropic": _anthropic,
    "openai-chat": _chat,
    "openai-responses": _responses,
    "gemini": _gemini,
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("client", "upstream"), ROUTES, ids=[f"{c}-via-{u}" for c, u in ROUTES])
async def test_text_through_every_route(
    harness: Any, client: str, upstream: str, stream: bool
) -> None:
    harness.use(harness.endpoint(upstream, model_map={"*": "upstream-model"}))
    with trio.fail_after(30):
        answer = await trio.to_thread.run_sync(CLIENTS[client], harness.url, stream, False)
    assert PROMPT[:30] in answer.text
    assert answer.calls == []
    assert answer.output_tokens > 0
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.route == f"{client}->{upstream}"
    assert exchange.error is None, exchange.error
    assert exchange.usage.source == "upstream"
    assert exchange.usage.output_tokens > 0
    assert exchange.finish_reasons == ["end_turn"]
    assert exchange.response_model  # what the upstream said it was
    received = harness.mock.provider.received[-1]
    assert b"upstream-model" in received.body or "upstream-model" in received.path


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("client", "upstream"), ROUTES, ids=[f"{c}-via-{u}" for c, u in ROUTES])
async def test_tool_call_through_every_route(
    harness: Any, client: str, upstream: str, stream: bool
) -> None:
    harness.use(harness.endpoint(upstream))
    with trio.fail_after(30):
        answer = await trio.to_thread.run_sync(CLIENTS[client], harness.url, stream, True)
    assert answer.calls == [("get_weather", {"city": "mock"})]


def _raw_request(client: str, stream: bool, fault: str) -> tuple[str, dict[str, Any]]:
    """(path, body) of a minimal text request in the client's API, asking the mock for `fault`
    through its model-name convention (headers of one API are not carried to another)."""
    model = f"m+{fault}"
    if client == "anthropic":
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        return "/v1/messages", body
    if client == "openai-chat":
        return "/v1/chat/completions", {
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}],
        }
    if client == "openai-responses":
        return "/v1/responses", {"model": model, "stream": stream, "input": PROMPT}
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{model}:{action}", {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}]
    }


IN_BAND_ERROR = {
    "anthropic": b"event: error",
    "openai-chat": b'data: {"error"',
    "openai-responses": b"response.failed",
    "gemini": b'data: {"error"',
}


@pytest.mark.parametrize(("client", "upstream"), ROUTES, ids=[f"{c}-via-{u}" for c, u in ROUTES])
async def test_upstream_errors_reach_the_client_in_its_own_shape(
    harness: Any, client: str, upstream: str
) -> None:
    harness.use(harness.endpoint(upstream))
    async with httpx.AsyncClient(timeout=20) as http:
        path, body = _raw_request(client, False, "status=429")
        limited = await http.post(harness.url + path, json=body)
        path, body = _raw_request(client, False, "status=529")
        overloaded = await http.post(harness.url + path, json=body)
    assert limited.status_code == 429
    error = limited.json()["error"]
    if client == "anthropic":
        assert limited.json()["type"] == "error"
        assert error["type"] == "rate_limit_error"
    elif client == "gemini":
        assert error["status"] == "RESOURCE_EXHAUSTED"
    else:
        assert "message" in error
    assert overloaded.status_code == (529 if client == "anthropic" else 503)


@pytest.mark.parametrize("fault", ["error-event", "cut-after=3"])
@pytest.mark.parametrize(("client", "upstream"), ROUTES, ids=[f"{c}-via-{u}" for c, u in ROUTES])
async def test_mid_stream_failures_end_with_the_clients_in_band_error(
    harness: Any, client: str, upstream: str, fault: str
) -> None:
    harness.use(harness.endpoint(upstream))
    path, body = _raw_request(client, True, fault)
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(harness.url + path, json=body)
    assert response.status_code == 200
    assert IN_BAND_ERROR[client] in response.content, response.content[-400:]
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.client_events, "the client-facing stream was recorded"
    assert exchange.error is not None, "the failure was recorded"
    assert exchange.error.kind == ("stream_cut" if fault.startswith("cut") else "upstream_status")


@pytest.mark.parametrize(("client", "upstream"), ROUTES, ids=[f"{c}-via-{u}" for c, u in ROUTES])
async def test_a_malformed_upstream_event_is_skipped_with_a_note(
    harness: Any, client: str, upstream: str
) -> None:
    harness.use(harness.endpoint(upstream))
    path, body = _raw_request(client, True, "malformed")
    async with httpx.AsyncClient(timeout=20) as http:
        response = await http.post(harness.url + path, json=body)
    assert response.status_code == 200
    assert IN_BAND_ERROR[client] not in response.content
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is None
    assert exchange.notes, "the skipped event was noted"
