"""Pure checks over many request variants: each stream follows its API's ordering rules, and what
a client accumulates from it equals the non-streaming answer to the same request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cal.mock import anthropic, gemini, openai_chat, openai_responses
from cal.mock.reply import MockOptions, PathInfo, plan_reply
from cal.sse import SSEDecoder

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
VARIANTS = {
    "text": {"text": "hello there"},
    "thinking": {"text": "think hard", "thinking": True},
    "tool": {"text": "use the tool", "tools": True},
    "parallel+thinking": {"text": "parallel tools", "tools": True, "thinking": True},
    "limit": {"text": "a fairly long question for the limit", "limit": 2},
}


def _anthropic_body(v: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "m",
        "max_tokens": v.get("limit", 1000),
        "messages": [{"role": "user", "content": v["text"]}],
    }
    if v.get("tools"):
        body["tools"] = [{"name": n, "input_schema": SCHEMA} for n in ("a", "b")]
    if v.get("thinking"):
        body["thinking"] = {"type": "enabled", "budget_tokens": 500}
    return body


def _chat_body(v: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "m",
        "max_completion_tokens": v.get("limit", 1000),
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": v["text"]}],
    }
    if v.get("tools"):
        body["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": SCHEMA}} for n in ("a", "b")
        ]
    if v.get("thinking"):
        body["reasoning_effort"] = "high"
    return body


def _responses_body(v: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "m",
        "max_output_tokens": v.get("limit", 1000),
        "input": v["text"],
    }
    if v.get("tools"):
        body["tools"] = [{"type": "function", "name": n, "parameters": SCHEMA} for n in ("a", "b")]
    if v.get("thinking"):
        body["reasoning"] = {"effort": "high"}
        body["include"] = ["reasoning.encrypted_content"]
    return body


def _gemini_body(v: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"maxOutputTokens": v.get("limit", 1000)}
    body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": v["text"]}]}]}
    if v.get("tools"):
        body["tools"] = [
            {"functionDeclarations": [{"name": n, "parameters": SCHEMA} for n in ("a", "b")]}
        ]
    if v.get("thinking"):
        config["thinkingConfig"] = {"includeThoughts": True}
    body["generationConfig"] = config
    return body


def _render(module: Any, body: dict[str, Any], path: PathInfo) -> tuple[Any, list[Any]]:
    """(non-streaming JSON, decoded stream events) for the same request."""
    raw = json.dumps(body).encode()
    turn = module.parse_turn(raw, path)
    reply = plan_reply(turn, MockOptions(chunks=3), rid="r1", created=1)
    whole = json.loads(module.render_body(turn, reply))
    stream = b"".join(module.render_stream(turn, reply))
    return whole, SSEDecoder().feed(stream)


@pytest.mark.parametrize("variant", VARIANTS)
def test_anthropic_stream_accumulates_to_the_message(variant: str) -> None:
    whole, events = _render(anthropic, _anthropic_body(VARIANTS[variant]), PathInfo())
    assert all(json.loads(e.data)["type"] == e.event for e in events)
    content: list[dict[str, Any]] = []
    partial: dict[int, str] = {}
    open_index = None
    for event in (json.loads(e.data) for e in events):
        kind = event["type"]
        if kind == "content_block_start":
            assert open_index is None and event["index"] == len(content)
            open_index = event["index"]
            content.append(dict(event["content_block"]))
            partial[open_index] = ""
        elif kind == "content_block_delta":
            assert event["index"] == open_index
            block, delta = content[open_index], event["delta"]
            field = {
                "text_delta": "text",
                "thinking_delta": "thinking",
                "signature_delta": "signature",
            }
            if delta["type"] == "input_json_delta":
                assert block["type"] == "tool_use"
                partial[open_index] += delta["partial_json"]
            else:
                name = field[delta["type"]]
                assert name in block
                block[name] += delta[name]
        elif kind == "content_block_stop":
            assert event["index"] == open_index
            if content[open_index]["type"] == "tool_use":
                content[open_index]["input"] = json.loads(partial[open_index])
            open_index = None
        elif kind == "message_delta":
            assert event["delta"]["stop_reason"] == whole["stop_reason"]
            assert event["usage"]["output_tokens"] == whole["usage"]["output_tokens"]
    assert content == whole["content"]
    assert [e.event for e in events][-1] == "message_stop"


@pytest.mark.parametrize("variant", VARIANTS)
def test_chat_stream_accumulates_to_the_completion(variant: str) -> None:
    whole, events = _render(openai_chat, _chat_body(VARIANTS[variant]), PathInfo())
    assert events[-1].data == b"[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    text, calls, finish = "", {}, None
    for chunk in chunks[:-1]:
        (choice,) = chunk["choices"]
        delta = choice["delta"]
        text += delta.get("content") or ""
        for part in delta.get("tool_calls") or []:
            call = calls.setdefault(part["index"], {"id": part.get("id"), "arguments": ""})
            call["name"] = part["function"].get("name", call.get("name"))
            call["arguments"] += part["function"]["arguments"]
        finish = choice["finish_reason"] or finish
    message = whole["choices"][0]["message"]
    assert finish == whole["choices"][0]["finish_reason"]
    assert (text or None) == message["content"]
    expected = {
        i: {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for i, c in enumerate(message.get("tool_calls", []))
    }
    assert calls == expected
    assert chunks[-1]["usage"] == whole["usage"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_responses_stream_ends_with_the_response(variant: str) -> None:
    whole, events = _render(openai_responses, _responses_body(VARIANTS[variant]), PathInfo())
    payloads = [json.loads(e.data) for e in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    added = [p["output_index"] for p in payloads if p["type"] == "response.output_item.added"]
    assert added == list(range(len(done)))
    final = payloads[-1]
    assert final["type"] == f"response.{whole['status']}"
    assert final["response"] == whole
    assert done == whole["output"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_gemini_stream_parts_merge_to_the_response(variant: str) -> None:
    path = PathInfo("m", True, "alt=sse")
    whole, events = _render(gemini, _gemini_body(VARIANTS[variant]), path)
    chunks = [json.loads(e.data) for e in events]
    parts = [p for c in chunks for p in c["candidates"][0]["content"]["parts"]]
    expected = whole["candidates"][0]["content"]["parts"]

    def merged(items: list[dict[str, Any]], thought: bool) -> str:
        return "".join(p.get("text", "") for p in items if bool(p.get("thought")) == thought)

    assert merged(parts, True) == merged(expected, True)
    assert merged(parts, False) == merged(expected, False)
    calls = [p for p in parts if "functionCall" in p]
    assert calls == [p for p in expected if "functionCall" in p]
    assert chunks[-1]["usageMetadata"] == whole["usageMetadata"]
    assert chunks[-1]["candidates"][0]["finishReason"] == whole["candidates"][0]["finishReason"]
