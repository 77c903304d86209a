"""IR helpers, the envelope, lookup, StreamTranslator rules and cross-route carriage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cal.sse import SSEDecoder, SSEEvent
from cal.transform import (
    RouteUnavailable,
    TranslationContext,
    TranslationError,
    lookup,
)
from cal.transform.ir import Thinking, arguments_object, safe_tool_id, seal, unseal


def ctx(**kw: Any) -> TranslationContext:
    base: dict[str, Any] = {"request_id": "t", "client_model": "client-m", "upstream_model": "up-m"}
    return TranslationContext(**(base | kw))


def sse(*events: dict[str, Any] | str, named: bool = False) -> list[SSEEvent]:
    raw = b""
    for e in events:
        data = e if isinstance(e, str) else json.dumps(e)
        head = f"event: {e['type']}\n" if named and isinstance(e, dict) else ""
        raw += f"{head}data: {data}\n\n".encode()
    return SSEDecoder().feed(raw)


def test_seal_round_trip_keeps_every_byte() -> None:
    block = Thinking(text='é\n"x"', signature="EqQB+/=", origin="anthropic", item_id="rs_1")
    assert unseal(seal(block)) == block
    redacted = Thinking(signature="opaque==", origin="anthropic", redacted=True)
    assert unseal(seal(redacted)) == redacted


@pytest.mark.parametrize("blob", ["EqQBsig==", "gw1.zzz.e30", "gw1.ant.!!!", "gw1.ant.bm90IGpzb24"])
def test_unseal_rejects_what_is_not_ours(blob: str) -> None:
    assert unseal(blob) is None


def test_safe_tool_id() -> None:
    assert safe_tool_id("toolu_01") == "toolu_01"
    mapped = safe_tool_id("functions.Bash:0")
    assert mapped == safe_tool_id("functions.Bash:0")
    assert mapped != safe_tool_id("functions.Bash:1")
    assert all(c.isalnum() or c in "_-" for c in mapped) and len(mapped) <= 64


def test_arguments_object() -> None:
    assert bytes(arguments_object("") or b"") == b"{}"
    assert bytes(arguments_object('{"a":1}') or b"") == b'{"a":1}'
    assert arguments_object("[1]") is None
    assert arguments_object('{"a":') is None


def test_lookup_refuses_same_format() -> None:
    with pytest.raises(RouteUnavailable):
        lookup("anthropic", "anthropic")


def test_n_greater_than_one_is_refused_for_anthropic() -> None:
    body = {"model": "m", "n": 2, "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(TranslationError) as info:
        lookup("openai-chat", "anthropic").translate_request(json.dumps(body).encode(), ctx())
    assert info.value.status_hint == 400


def test_invalid_json_is_a_translation_error() -> None:
    with pytest.raises(TranslationError):
        lookup("openai-chat", "anthropic").translate_request(b"{nope", ctx())


def test_translator_stops_after_an_error_and_ends_truncated_streams() -> None:
    route = lookup("anthropic", "openai-chat")
    st = route.stream_translator(ctx())
    chunk = {"id": "c", "model": "g", "choices": [{"index": 0, "delta": {"content": "a"}}]}
    out = b"".join(st.feed(sse(chunk)[0]))
    assert b"message_start" in out and b"text_delta" in out
    err = b"".join(st.feed(sse({"error": {"message": "boom", "type": "server_error"}})[0]))
    assert err.startswith(b"event: error")
    assert st.closed
    assert st.feed(sse(chunk)[0]) == [] and st.finish() == [] and st.fail("timeout", "x") == []


def test_non_json_upstream_error_body() -> None:
    route = lookup("openai-chat", "anthropic")
    status, body = route.translate_error(502, b"<html>Bad Gateway</html>", ctx())
    assert status == 502
    assert json.loads(body)["error"]["message"] == "<html>Bad Gateway</html>"


def test_parallel_chat_calls_all_at_index_zero_stay_separate() -> None:
    route = lookup("anthropic", "openai-chat")
    st = route.stream_translator(ctx())

    def call(cid: str, name: str, args: str) -> dict[str, Any]:
        fn = {"name": name, "arguments": args}
        tc = {"index": 0, "id": cid, "type": "function", "function": fn}
        return {"id": "c", "model": "g", "choices": [{"index": 0, "delta": {"tool_calls": [tc]}}]}

    out: list[bytes] = []
    for chunk in (call("call_1", "a", "{}"), call("call_2", "b", '{"x":1}')):
        out += st.feed(sse(chunk)[0])
    done = {
        "id": "c",
        "model": "g",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    out += st.feed(sse(done)[0]) + st.finish()
    text = b"".join(out).decode()
    assert '"index":0,"content_block":{"type":"tool_use","id":"call_1"' in text
    assert '"index":1,"content_block":{"type":"tool_use","id":"call_2"' in text
    assert '"stop_reason":"tool_use"' in text  # `stop` with calls in the turn


def test_thinking_off_when_tool_loop_has_no_thinking_to_replay() -> None:
    body = {
        "model": "m",
        "reasoning_effort": "high",
        "max_completion_tokens": 30000,
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
    }
    c = ctx()
    out = json.loads(
        lookup("openai-chat", "anthropic").translate_request(json.dumps(body).encode(), c)
    )
    assert "thinking" not in out
    assert any("thinking off" in n for n in c.notes)


def _anthropic_thinking_answer() -> bytes:
    return json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-x",
            "content": [
                {"type": "thinking", "thinking": "Plan: call f.", "signature": "EqQBAbc+/=="},
                {"type": "redacted_thinking", "data": "RED+/=="},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1, "output_tokens": 2},
        }
    ).encode()


def _next_turn_thinking(upstream_body: bytes) -> list[dict[str, Any]]:
    msgs = json.loads(upstream_body)["messages"]
    assistant = next(m for m in msgs if m["role"] == "assistant")
    return [b for b in assistant["content"] if "thinking" in b["type"]]


def test_anthropic_thinking_round_trips_byte_exact_through_a_responses_client() -> None:
    route = lookup("openai-responses", "anthropic")
    answer = json.loads(route.translate_response(_anthropic_thinking_answer(), ctx()))
    request = {
        "model": "m",
        "input": [{"type": "message", "role": "user", "content": "go"}, *answer["output"]],
    }
    request["input"].append({"type": "function_call_output", "call_id": "toolu_1", "output": "ok"})
    upstream = route.translate_request(json.dumps(request).encode(), ctx())
    assert _next_turn_thinking(upstream) == [
        {"type": "thinking", "thinking": "Plan: call f.", "signature": "EqQBAbc+/=="},
        {"type": "redacted_thinking", "data": "RED+/=="},
    ]


def test_anthropic_thinking_round_trips_byte_exact_through_a_gemini_client() -> None:
    route = lookup("gemini", "anthropic")
    answer = json.loads(route.translate_response(_anthropic_thinking_answer(), ctx()))
    model_turn = answer["candidates"][0]["content"]
    call = next(p["functionCall"] for p in model_turn["parts"] if "functionCall" in p)
    result = {"functionResponse": {"name": call["name"], "response": {"output": "ok"}}}
    if "id" in call:
        result["functionResponse"]["id"] = call["id"]
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "go"}]},
            model_turn,
            {"role": "user", "parts": [result]},
        ]
    }
    upstream = route.translate_request(json.dumps(request).encode(), ctx())
    assert _next_turn_thinking(upstream)[0] == {
        "type": "thinking",
        "thinking": "Plan: call f.",
        "signature": "EqQBAbc+/==",
    }


def test_custom_tool_through_anthropic_maps_back_to_a_custom_call() -> None:
    route = lookup("openai-chat", "anthropic")
    c = ctx()
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "patch it"}],
        "tools": [{"type": "custom", "custom": {"name": "apply_patch", "description": "patch"}}],
    }
    upstream = json.loads(route.translate_request(json.dumps(body).encode(), c))
    schema = upstream["tools"][0]["input_schema"]
    assert schema["properties"]["input"]["type"] == "string"
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_9",
                "name": "apply_patch",
                "input": {"input": "*** x"},
            }
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    out = json.loads(route.translate_response(json.dumps(answer).encode(), c))
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call == {
        "id": "toolu_9",
        "type": "custom",
        "custom": {"name": "apply_patch", "input": "*** x"},
    }


def test_tool_result_images_move_to_a_user_message_for_chat() -> None:
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "AA=="},
    }
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "shot"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "shot", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [image]},
                    {"type": "text", "text": "what do you see?"},
                ],
            },
        ],
    }
    c = ctx()
    out = json.loads(
        lookup("anthropic", "openai-chat").translate_request(json.dumps(body).encode(), c)
    )
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "tool", "user", "user"]
    moved = out["messages"][3]["content"]
    assert moved == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]
    assert any("moved to a following user message" in n for n in c.notes)


def test_chat_tool_and_user_messages_merge_into_one_anthropic_user_turn() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                    {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "a", "content": "1"},
            {"role": "tool", "tool_call_id": "b", "content": "2"},
            {"role": "user", "content": "next"},
        ],
    }
    out = json.loads(
        lookup("openai-chat", "anthropic").translate_request(json.dumps(body).encode(), ctx())
    )
    last = out["messages"][-1]
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert [b["type"] for b in last["content"]] == ["tool_result", "tool_result", "text"]
    assistant = out["messages"][1]["content"]
    assert [b["type"] for b in assistant] == ["tool_use", "tool_use"]  # no empty text block


def test_anthropic_conversation_starts_with_a_user_turn() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "be a pirate"},
            {"role": "assistant", "content": "Arr, how may I help?"},
            {"role": "user", "content": "hi"},
        ],
    }
    c = ctx()
    out = json.loads(
        lookup("openai-chat", "anthropic").translate_request(json.dumps(body).encode(), c)
    )
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["system"] == [{"type": "text", "text": "be a pirate"}]
    assert any("first message" in n for n in c.notes)


def test_chat_reasoning_content_is_replayed_through_an_anthropic_client() -> None:
    route = lookup("anthropic", "openai-chat")
    answer = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "deepseek-x",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": "think first",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    shown = json.loads(route.translate_response(json.dumps(answer).encode(), ctx()))
    assert shown["content"][0]["type"] == "thinking"
    assert shown["content"][0]["signature"].startswith("gw1.chat.")
    follow_up = {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": shown["content"]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "ok"}],
            },
        ],
    }
    upstream = json.loads(route.translate_request(json.dumps(follow_up).encode(), ctx()))
    assistant = upstream["messages"][1]
    assert assistant["reasoning_content"] == "think first"
    assert assistant["tool_calls"][0]["id"] == "call_1"


@pytest.mark.parametrize(("budget", "expected"), [(-1, 8192), (0, None), (3000, 3000), (500, 1024)])
def test_gemini_thinking_budget_to_anthropic(budget: int, expected: int | None) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {
            "maxOutputTokens": 20000,
            "thinkingConfig": {"thinkingBudget": budget},
        },
    }
    c = ctx(client_model="gemini-x", upstream_model="claude-sonnet-4-5")
    out = json.loads(lookup("gemini", "anthropic").translate_request(json.dumps(body).encode(), c))
    assert out.get("thinking", {}).get("budget_tokens") == expected


@pytest.mark.parametrize("upstream", ["anthropic", "openai-chat"])
def test_tool_names_with_foreign_characters_are_renamed_and_mapped_back(upstream: str) -> None:
    route = lookup("gemini", upstream)  # type: ignore[arg-type]
    decl = {"name": "files.read", "parameters": {"type": "object", "properties": {}}}
    body = {
        "contents": [{"role": "user", "parts": [{"text": "read"}]}],
        "tools": [{"functionDeclarations": [decl]}],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["files.read"]}
        },
    }
    c = ctx(client_model="gemini-x")
    out = json.loads(route.translate_request(json.dumps(body).encode(), c))
    tool = out["tools"][0]
    sent = tool["name"] if upstream == "anthropic" else tool["function"]["name"]
    assert sent.startswith("files_read_") and sent != "files.read"
    assert sent in json.dumps(out["tool_choice"])
    if upstream == "anthropic":
        answer: dict[str, Any] = {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "model": "x",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": sent, "input": {}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    else:
        call = {"id": "c1", "type": "function", "function": {"name": sent, "arguments": "{}"}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        answer = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "x",
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        }
    shown = json.loads(route.translate_response(json.dumps(answer).encode(), c))
    parts = shown["candidates"][0]["content"]["parts"]
    assert [p["functionCall"]["name"] for p in parts if "functionCall" in p] == ["files.read"]
