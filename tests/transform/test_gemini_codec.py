"""Gemini codec details: request parsing/rendering rules, ids, signatures, usage, finish reasons."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from google.genai import _common as genai_common, types

from cal.sse import SSEDecoder
from cal.transform import TranslationContext, lookup
from cal.transform.gemini import CODEC, parse_error, parse_response
from cal.transform.gemini_parts import parse_usage, usage_json
from cal.transform.gemini_request import parse_request
from cal.transform.gemini_stream import GeminiStreamParser
from cal.transform.ir import (
    BlockStart,
    Message,
    Request,
    Response,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)


def ctx(**kw: Any) -> TranslationContext:
    counter = iter(range(1, 1000))
    return TranslationContext(
        request_id="r",
        client_model=kw.pop("client_model", "gemini-x"),
        upstream_model="up",
        new_id=lambda p: f"{p}{next(counter)}",
        **kw,
    )


def render(req: Request, c: TranslationContext | None = None) -> dict[str, Any]:
    return json.loads(CODEC.render_request(req, c or ctx()))


def test_adjacent_roles_merge_and_results_share_one_user_content() -> None:
    req = Request(
        origin="openai-chat",
        model="m",
        messages=[
            Message(role="system", content=[Text(text="Be brief")]),
            Message(role="user", content=[Text(text="a")]),
            Message(role="user", content=[Text(text="b")]),
            Message(
                role="assistant",
                content=[
                    ToolCall(id="c1", name="f", arguments='{"x":1}'),
                    ToolCall(id="c2", name="g", arguments="{}"),
                ],
            ),
            Message(
                role="tool",
                content=[
                    ToolResult(call_id="c1", content=[Text(text="one")]),
                    ToolResult(call_id="c2", content=[Text(text="bad")], is_error=True),
                ],
            ),
            Message(role="user", content=[Text(text="next")]),
        ],
    )
    body = render(req)
    assert "model" not in body
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief"}]}
    roles = [c["role"] for c in body["contents"]]
    assert roles == ["user", "model", "user"]
    results = body["contents"][2]["parts"]
    assert results[0] == {"functionResponse": {"name": "f", "response": {"output": "one"}}}
    assert results[1] == {"functionResponse": {"name": "g", "response": {"error": "bad"}}}
    assert results[2] == {"text": "next"}
    calls = body["contents"][1]["parts"]
    assert calls[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in calls[1]
    assert calls[0]["functionCall"] == {"name": "f", "args": {"x": 1}}


def test_gemini_signature_goes_back_on_its_part_and_foreign_reasoning_is_dropped() -> None:
    c = ctx()
    req = Request(
        origin="anthropic",
        model="m",
        messages=[
            Message(role="user", content=[Text(text="q")]),
            Message(
                role="assistant",
                content=[
                    Thinking(text="hidden", signature="ant-sig", origin="anthropic"),
                    Thinking(text="", signature="GEMSIG", origin="gemini"),
                    ToolCall(id="c1", name="f", arguments="{}"),
                ],
            ),
        ],
    )
    body = render(req, c)
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "GEMSIG"}
    ]
    assert "gemini upstream: dropped reasoning produced by another provider" in c.notes


def test_tools_are_cleaned_flattened_and_forced_choice_maps_to_any() -> None:
    c = ctx()
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "additionalProperties": False,
    }
    req = Request(
        origin="openai-responses",
        model="m",
        messages=[Message(role="user", content=[Text(text="q")])],
        tools=[
            Tool(
                name="sleep", namespace="clock", parameters=msgspec.Raw(json.dumps(schema).encode())
            ),
            Tool(name="exec", namespace="functions", kind="custom"),
        ],
    )
    from cal.transform.ir import ToolChoice

    req.tool_choice = ToolChoice(mode="tool", name="sleep")
    body = render(req, c)
    decls = body["tools"][0]["functionDeclarations"]
    assert decls[0] == {
        "name": "clock__sleep",
        "parameters": {"type": "object", "properties": {"a": {"type": "string"}}},
    }
    assert decls[1]["name"] == "exec"
    assert decls[1]["parameters"]["properties"] == {"input": {"type": "string"}}
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["clock__sleep"]}
    }
    assert any("dropped 'additionalProperties'" in n for n in c.notes)
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "clock__sleep", "args": {"a": "1"}}},
                        {"functionCall": {"name": "exec", "args": {"input": "print(1)"}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "responseId": "resp9",
    }
    resp = parse_response(json.dumps(answer).encode(), c)
    first, second = resp.content
    assert isinstance(first, ToolCall) and isinstance(second, ToolCall)
    assert (first.name, first.namespace, first.kind) == ("sleep", "clock", "function")
    assert (second.name, second.kind, second.arguments) == ("exec", "custom", "print(1)")
    assert resp.stop_reason == "tool_use"
    assert first.id.startswith("call_") and first.id != second.id


def test_client_request_pairs_id_less_calls_and_results() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "U0lH"},
                    {"functionCall": {"name": "f", "args": {"a": 2}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "f", "response": {"output": "r1"}}},
                    {"functionResponse": {"name": "f", "response": {"result": {"k": 1}}}},
                    {"text": "and?"},
                ],
            },
        ]
    }
    req = parse_request(json.dumps(body).encode(), ctx())
    assert [m.role for m in req.messages] == ["user", "assistant", "tool", "user"]
    sig, call1, call2 = req.messages[1].content
    assert sig == Thinking(text="", signature="U0lH", origin="gemini")
    assert isinstance(call1, ToolCall) and isinstance(call2, ToolCall)
    res1, res2 = req.messages[2].content
    assert isinstance(res1, ToolResult) and isinstance(res2, ToolResult)
    assert (res1.call_id, res2.call_id) == (call1.id, call2.id)
    assert res1.content == [Text(text="r1")]
    assert res2.content == [Text(text='{"result":{"k":1}}')]
    again = parse_request(json.dumps(body).encode(), ctx())
    assert [p.id for p in again.messages[1].content if isinstance(p, ToolCall)] == [
        call1.id,
        call2.id,
    ]


def test_anthropic_thinking_survives_a_gemini_client_and_its_sdk() -> None:
    block = Thinking(text="I think", signature="EqQBCkgIARAB", origin="anthropic")
    resp = Response(id="m1", model="claude", content=[block, Text(text="Hi")])
    out = json.loads(CODEC.render_response(resp, ctx()))
    parsed = types.GenerateContentResponse.model_validate(out)
    content = parsed.candidates[0].content  # type: ignore[index]
    assert content is not None
    # what google-genai sends back as history on the next turn
    wire = genai_common.convert_to_dict(content.model_dump(exclude_none=True))
    wire = genai_common.encode_unserializable_types(wire)
    history = {
        "contents": [
            {"role": "user", "parts": [{"text": "q"}]},
            {"role": "model", "parts": [_camel(p) for p in wire["parts"]]},
            {"role": "user", "parts": [{"text": "more"}]},
        ]
    }
    c = ctx()
    upstream = json.loads(
        lookup("gemini", "anthropic").translate_request(json.dumps(history).encode(), c)
    )
    thinking = upstream["messages"][1]["content"][0]
    assert thinking == {"type": "thinking", "thinking": "I think", "signature": "EqQBCkgIARAB"}


def _camel(part: dict[str, Any]) -> dict[str, Any]:
    names = {"thought_signature": "thoughtSignature"}
    return {names.get(k, k): v for k, v in part.items()}


def test_usage_arithmetic_both_ways() -> None:
    meta = {
        "promptTokenCount": 2000,
        "cachedContentTokenCount": 1500,
        "candidatesTokenCount": 100,
        "thoughtsTokenCount": 40,
        "toolUsePromptTokenCount": 10,
        "totalTokenCount": 2150,
    }
    usage = parse_usage(meta)
    assert usage == Usage(uncached_in=510, cache_read=1500, out_total=140, reasoning=40)
    back = usage_json(
        Usage(uncached_in=20, cache_read=1800, cache_write=200, out_total=50, reasoning=8)
    )
    assert back == {
        "promptTokenCount": 2020,
        "candidatesTokenCount": 42,
        "cachedContentTokenCount": 1800,
        "thoughtsTokenCount": 8,
        "totalTokenCount": 2070,
    }


def test_finish_reasons_and_blocked_prompt() -> None:
    def stop(finish: str | None, extra: dict[str, Any] | None = None) -> str:
        doc: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}}]
        }
        if finish:
            doc["candidates"][0]["finishReason"] = finish
        doc.update(extra or {})
        return parse_response(json.dumps(doc).encode(), ctx()).stop_reason

    assert stop("STOP") == "end_turn"
    assert stop("MAX_TOKENS") == "max_tokens"
    assert stop("SAFETY") == "refusal"
    assert stop("MALFORMED_FUNCTION_CALL") == "end_turn"
    assert stop(None, {"promptFeedback": {"blockReason": "SAFETY"}}) == "refusal"


def test_stream_remembers_calls_across_chunks_and_takes_the_last_usage() -> None:
    raw = (
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":'
        b'{"name":"f","args":{"a":1}}}]}}],"usageMetadata":{"promptTokenCount":5,'
        b'"candidatesTokenCount":3,"totalTokenCount":8},"responseId":"rX"}\n\n'
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},'
        b'"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,'
        b'"candidatesTokenCount":9,"totalTokenCount":14},"responseId":"rX"}\n\n'
    )
    c = ctx()
    parser = GeminiStreamParser(c)
    events = [e for ev in SSEDecoder().feed(raw) for e in parser.feed(ev)] + parser.end()
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageStart",
        "BlockStart",
        "ToolArgsDelta",
        "BlockStop",
        "UsageUpdate",
        "Finish",
    ]
    start = events[1]
    assert isinstance(start, BlockStart) and start.id
    body_twin = parse_response(
        b'{"candidates":[{"content":{"role":"model","parts":[{"functionCall":'
        b'{"name":"f","args":{"a":1}}}]},"finishReason":"STOP"}],"responseId":"rX"}',
        ctx(),
    )
    assert isinstance(body_twin.content[0], ToolCall)
    assert body_twin.content[0].id == start.id
    assert events[-2].usage == Usage(uncached_in=5, out_total=9)  # type: ignore[union-attr]
    assert events[-1].stop_reason == "tool_use"  # type: ignore[union-attr]


def test_stream_without_finish_owes_nothing_and_errors_are_in_band() -> None:
    parser = GeminiStreamParser(ctx())
    chunk = b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}\n\n'
    events = [e for ev in SSEDecoder().feed(chunk) for e in parser.feed(ev)]
    assert [type(e).__name__ for e in events] == ["MessageStart", "BlockStart", "TextDelta"]
    assert [type(e).__name__ for e in parser.end()] == ["BlockStop"]
    error = b'data: {"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}\n\n'
    (ev,) = [e for x in SSEDecoder().feed(error) for e in GeminiStreamParser(ctx()).feed(x)]
    assert (ev.kind, ev.message) == ("rate_limit", "slow down")  # type: ignore[union-attr]


def test_parse_error_shapes() -> None:
    key = {
        "error": {
            "code": 400,
            "message": "API key not valid",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        }
    }
    assert parse_error(400, json.dumps(key).encode()) == ("authentication", "API key not valid")
    wrapped = [{"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}]
    assert parse_error(503, json.dumps(wrapped).encode()) == ("unavailable", "busy")
    assert parse_error(502, b"<html>bad gateway</html>")[0] == "bad_gateway"


def test_thinking_effort_maps_by_model_generation() -> None:
    from cal.transform.ir import Reasoning

    req = Request(
        origin="openai-chat",
        model="m",
        messages=[Message(role="user", content=[Text(text="q")])],
        reasoning=Reasoning(effort="high"),
    )

    def config(model: str) -> dict[str, Any]:
        c = TranslationContext(request_id="r", client_model="x", upstream_model=model)
        return dict(json.loads(CODEC.render_request(req, c))["generationConfig"]["thinkingConfig"])

    assert config("gemini-3-pro-preview") == {"thinkingLevel": "HIGH"}
    assert config("gemini-2.5-flash") == {"thinkingBudget": 24576}
    req.reasoning = Reasoning(mode="disabled")
    assert config("gemini-2.5-flash") == {"thinkingBudget": 0}


def test_max_output_tokens_is_capped_with_a_note() -> None:
    req = Request(
        origin="anthropic",
        model="m",
        messages=[Message(role="user", content=[Text(text="q")])],
        max_tokens=128000,
    )
    c = ctx()
    assert render(req, c)["generationConfig"]["maxOutputTokens"] == 65536
    assert "gemini upstream: maxOutputTokens 128000 lowered to 65536" in c.notes


def test_cached_content_cannot_cross_apis() -> None:
    import pytest

    from cal.transform import TranslationError

    body = {
        "contents": [{"role": "user", "parts": [{"text": "q"}]}],
        "cachedContent": "cachedContents/x",
    }
    with pytest.raises(TranslationError) as err:
        parse_request(json.dumps(body).encode(), ctx())
    assert err.value.status_hint == 400
