"""The mock's Gemini API over httpx (google-genai is not installed): shapes as the API sends them."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import trio

from cal.sse import SSEDecoder

TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
                    "required": ["city", "days"],
                },
            },
            {"name": "read_clock", "parametersJsonSchema": {"type": "object"}},
        ]
    }
]


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


async def _post(served: Any, path: str, body: dict[str, Any]) -> httpx.Response:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            return await client.post(path, json=body, headers={"x-goog-api-key": "k"})


async def _stream(
    served: Any, body: dict[str, Any], model: str = "mock-gemini"
) -> list[dict[str, Any]]:
    response = await _post(served, f"/v1beta/models/{model}:streamGenerateContent?alt=sse", body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(event.data) for event in SSEDecoder().feed(response.content)]


def _text(chunks: list[dict[str, Any]], thought: bool = False) -> str:
    return "".join(
        part.get("text", "")
        for chunk in chunks
        for part in chunk["candidates"][0]["content"]["parts"]
        if bool(part.get("thought")) == thought
    )


async def test_generate_content_returns_text_and_usage(served: Any) -> None:
    response = await _post(
        served, "/v1beta/models/mock-gemini:generateContent", {"contents": [_user("Hi Gemini")]}
    )
    payload = response.json()
    (candidate,) = payload["candidates"]
    assert candidate["content"]["role"] == "model"
    assert candidate["finishReason"] == "STOP"
    assert candidate["content"]["parts"] == [
        {"text": "Hello from the cal mock provider. You said: Hi Gemini"}
    ]
    usage = payload["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert payload["modelVersion"] == "mock-gemini"


async def test_stream_text_with_thoughts_and_signature(served: Any) -> None:
    body = {
        "contents": [_user("think about it")],
        "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1}},
    }
    chunks = await _stream(served, body)
    assert _text(chunks, thought=True).startswith("Mock reasoning about: think about it")
    assert _text(chunks) == "Hello from the cal mock provider. You said: think about it"
    assert [c["candidates"][0].get("finishReason") for c in chunks][-1] == "STOP"
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    last_part = chunks[-1]["candidates"][0]["content"]["parts"][-1]
    assert base64.b64decode(last_part["thoughtSignature"]).startswith(b"mocksig_")
    usage = chunks[-1]["usageMetadata"]
    assert usage["thoughtsTokenCount"] > 0
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + usage["thoughtsTokenCount"]
    )


async def test_stream_parallel_function_calls(served: Any) -> None:
    body = {
        "contents": [_user("parallel tool calls")],
        "tools": TOOLS,
        "generationConfig": {"thinkingConfig": {"thinkingBudget": 512}},
    }
    chunks = await _stream(served, body)
    parts = [part for c in chunks for part in c["candidates"][0]["content"]["parts"]]
    calls = [part for part in parts if "functionCall" in part]
    assert [c["functionCall"] for c in calls] == [
        {"name": "get_weather", "args": {"city": "mock", "days": 1}},
        {"name": "read_clock", "args": {}},
    ]
    assert "thoughtSignature" in calls[0] and "thoughtSignature" not in calls[1]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_response_is_mentioned(served: Any) -> None:
    contents = [
        _user("weather tool"),
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "18C"}}}],
        },
    ]
    response = await _post(
        served, "/v1beta/models/m:generateContent", {"contents": contents, "tools": TOOLS}
    )
    parts = response.json()["candidates"][0]["content"]["parts"]
    assert parts[-1]["text"].endswith("The tool returned: 18C")


async def test_stream_without_alt_sse_is_one_json_array(served: Any) -> None:
    response = await _post(
        served, "/v1beta/models/m:streamGenerateContent", {"contents": [_user("array")]}
    )
    assert response.headers["content-type"].startswith("application/json")
    chunks = response.json()
    assert isinstance(chunks, list)
    assert _text(chunks).endswith("You said: array")


async def test_models_and_count_tokens(served: Any) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            models = (await client.get("/v1beta/models")).json()["models"]
            count = await client.post(
                "/v1beta/models/m:countTokens", json={"contents": [_user("count")]}
            )
    assert "models/mock-gemini" in [m["name"] for m in models]
    assert count.json()["totalTokens"] > 0
