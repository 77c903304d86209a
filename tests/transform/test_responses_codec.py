"""OpenAI Responses codec details: input items, Codex's tools, stateless rules, reasoning carriage,
usage, and the stream parser against its non-stream twin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cal.sse import SSEDecoder
from cal.transform import TranslationContext, TranslationError, lookup
from cal.transform.accumulate import Accumulator
from cal.transform.ir import (
    Image,
    Message,
    Request,
    Response,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    Usage,
    seal,
)
from cal.transform.openai_responses import (
    CODEC,
    parse_error,
    parse_response,
    parse_usage,
    render_request,
)
from cal.transform.openai_responses_request import parse_request
from cal.transform.openai_responses_stream import ResponsesStreamParser

CODEX = Path("/work/shared/reference/captures/codex-0.169.0_responses_http.json")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transform"


def ctx(**kw: Any) -> TranslationContext:
    counter = iter(range(1, 1000))
    return TranslationContext(
        request_id="r",
        client_model=kw.pop("client_model", "gpt-x"),
        upstream_model="up",
        now=lambda: 1795272466,
        new_id=lambda p: f"{p}{next(counter)}",
        **kw,
    )


def parse(body: dict[str, Any], c: TranslationContext | None = None) -> Request:
    return parse_request(json.dumps(body).encode(), c or ctx())


def test_items_group_into_turns() -> None:
    req = parse(
        {
            "model": "gpt-x",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "ENC"},
                {
                    "type": "function_call",
                    "id": "fc_1",
                    "call_id": "c1",
                    "name": "f",
                    "arguments": "{}",
                },
                {"type": "custom_tool_call", "call_id": "c2", "name": "exec", "input": "1+1"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
                {"type": "custom_tool_call_output", "call_id": "c2", "output": "2"},
                {
                    "type": "message",
                    "role": "assistant",
                    "phase": "final_answer",
                    "content": [{"type": "output_text", "text": "done", "annotations": []}],
                },
            ],
        }
    )
    assert [m.role for m in req.messages] == ["system", "user", "assistant", "tool", "assistant"]
    thinking, call, custom = req.messages[2].content
    assert thinking == Thinking(signature="ENC", origin="openai-responses", item_id="rs_1")
    assert isinstance(call, ToolCall) and call.item_id == "fc_1"
    assert isinstance(custom, ToolCall) and (custom.kind, custom.arguments) == ("custom", "1+1")
    out1, out2 = req.messages[3].content
    assert isinstance(out1, ToolResult) and isinstance(out2, ToolResult)
    assert (out1.call_id, out2.kind) == ("c1", "custom")
    assert msgspec.json.decode(req.messages[4].extras["phase"]) == "final_answer"


def test_images_and_files_become_ir_parts() -> None:
    req = parse(
        {
            "model": "gpt-x",
            "input": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "input_image",
                            "image_url": "data:image/jpeg;base64,AAA",
                            "detail": "high",
                        },
                        {"type": "input_image", "image_url": "https://x/y.png"},
                        {
                            "type": "input_file",
                            "file_data": "data:application/pdf;base64,JVBE",
                            "filename": "a.pdf",
                        },
                    ],
                }
            ],
        }
    )
    img, url, doc = req.messages[0].content
    assert img == Image(media_type="image/jpeg", data="AAA", detail="high")
    assert isinstance(url, Image) and url.url == "https://x/y.png"
    assert doc.media_type == "application/pdf" and doc.filename == "a.pdf"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "extra",
    [
        {"previous_response_id": "resp_1"},
        {"conversation": "conv_1"},
        {"prompt": {"id": "pmpt_1", "version": "2"}},
        {"input": [{"type": "item_reference", "id": "rs_1"}]},
    ],
)
def test_openai_held_state_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(TranslationError) as err:
        parse({"model": "gpt-x", "input": [], **extra})
    assert err.value.status_hint == 400


def test_foreign_reasoning_comes_back_unsealed_and_only_own_blobs_go_upstream() -> None:
    ant = Thinking(text="why", signature="EqQB", origin="anthropic")
    req = parse(
        {
            "model": "gpt-x",
            "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "id": "rs_x", "summary": [], "encrypted_content": seal(ant)},
                {
                    "type": "reasoning",
                    "id": "rs_y",
                    "summary": [{"type": "summary_text", "text": "s"}],
                    "encrypted_content": "OWN",
                },
            ],
        }
    )
    assert req.messages[1].content[0] == ant
    c = ctx()
    body = json.loads(render_request(req, c))
    reasoning = [i for i in body["input"] if i["type"] == "reasoning"]
    assert reasoning == [
        {
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": "s"}],
            "encrypted_content": "OWN",
            "id": "rs_y",
        }
    ]
    assert "responses upstream: dropped reasoning produced by another provider" in c.notes
    assert body["store"] is False


def test_render_request_settings() -> None:
    from cal.transform.ir import Reasoning, ToolChoice

    req = Request(
        origin="anthropic",
        model="m",
        messages=[Message(role="user", content=[Text(text="q")])],
        max_tokens=100,
        stop=["END"],
        reasoning=Reasoning(mode="enabled", budget_tokens=20000),
        tool_choice=ToolChoice(mode="any"),
    )
    c = ctx()
    body = json.loads(render_request(req, c))
    assert body["max_output_tokens"] == 100
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    assert body["include"] == ["reasoning.encrypted_content"]
    assert body["tool_choice"] == "required"
    assert "stop" not in body
    assert "responses upstream: dropped stop sequences (no such parameter)" in c.notes
    req.n = 2
    with pytest.raises(TranslationError):
        render_request(req, ctx())


def test_usage_and_status_mapping() -> None:
    usage = parse_usage(
        {
            "input_tokens": 2000,
            "input_tokens_details": {"cached_tokens": 1500},
            "output_tokens": 300,
            "output_tokens_details": {"reasoning_tokens": 120},
        }
    )
    assert usage == Usage(uncached_in=500, cache_read=1500, out_total=300, reasoning=120)
    body = {
        "id": "resp_1",
        "status": "incomplete",
        "incomplete_details": {"reason": "content_filter"},
        "output": [],
        "model": "m",
    }
    assert parse_response(json.dumps(body).encode(), ctx()).stop_reason == "refusal"
    failed = {"id": "resp_1", "status": "failed", "error": {"code": "server_error", "message": "x"}}
    with pytest.raises(TranslationError):
        parse_response(json.dumps(failed).encode(), ctx())
    rendered = json.loads(
        CODEC.render_response(
            Response(id="u", model="m", stop_reason="max_tokens", usage=Usage(10, 5, 1, 7, 2)),
            ctx(),
        )
    )
    assert rendered["status"] == "incomplete"
    assert rendered["incomplete_details"] == {"reason": "max_output_tokens"}
    assert rendered["usage"] == {
        "input_tokens": 16,
        "input_tokens_details": {"cached_tokens": 5, "cache_write_tokens": 1},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 23,
    }


def test_parse_error() -> None:
    quota = {
        "error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}
    }
    assert parse_error(429, json.dumps(quota).encode()) == ("rate_limit", "quota")
    assert parse_error(500, b"not json")[0] == "api_error"
    assert parse_error(503, b"{}") == ("unavailable", "upstream status 503")


@pytest.mark.parametrize(
    ("stream", "body"),
    [
        ("reasoning_stream", "reasoning"),
        ("tool_call_stream", "tool_call"),
        ("text_stream", "text"),
    ],
)
def test_stream_parser_matches_body_parser(stream: str, body: str) -> None:
    """The recorded-shape Responses upstream stream and its non-stream twin give one answer."""
    sse = (FIXTURES / "gemini_via_openai-responses" / stream / "upstream_stream.sse").read_bytes()
    parser = ResponsesStreamParser(ctx())
    acc = Accumulator()
    decoder = SSEDecoder()
    for event in decoder.feed(sse) + decoder.close():
        acc.extend(parser.feed(event))
    acc.extend(parser.end())
    streamed = acc.response()
    twin = (FIXTURES / "gemini_via_openai-responses" / body / "upstream_response.json").read_bytes()
    parsed = parse_response(twin, ctx())
    assert _normalized(streamed.content) == _normalized(parsed.content)
    assert streamed.stop_reason == parsed.stop_reason
    assert streamed.usage == parsed.usage


def _normalized(parts: list[Any]) -> list[Any]:
    """Parts with tool arguments compared as JSON values (the recorded fragments add spaces)."""
    return [
        msgspec.structs.replace(p, arguments=json.dumps(json.loads(p.arguments)))
        if isinstance(p, ToolCall)
        else p
        for p in parts
    ]


@pytest.mark.skipif(not CODEX.exists(), reason="capture not present")
@pytest.mark.parametrize("upstream", ["anthropic", "openai-chat", "gemini"])
def test_codex_tools_survive_a_round_trip(upstream: str) -> None:
    """Codex's namespaced and freeform tools go out flattened and its calls come back named as
    Codex declared them (namespace + name; `exec` as a custom_tool_call with raw input)."""
    body = json.loads(CODEX.read_text())["body"]
    route = lookup("openai-responses", upstream)  # type: ignore[arg-type]
    c = ctx(client_model=body["model"])
    out = json.loads(route.translate_request(json.dumps(body).encode(), c))
    text = json.dumps(out)
    assert "clock__sleep" in text and "collaboration__spawn_agent" in text
    assert "You are Codex" in text and '"hi"' in text
    calls = [
        ToolCall(id="call_1", name="clock__sleep", arguments='{"seconds": 1}'),
        ToolCall(id="call_2", name="exec", arguments=json.dumps({"input": "await tools.wait()"})),
    ]
    if upstream == "openai-chat":  # Chat has freeform tools: the call stays custom
        calls[1] = ToolCall(id="call_2", name="exec", arguments="await tools.wait()", kind="custom")
    answer = route.upstream.render_response(
        Response(id="up", model="m", content=list(calls), stop_reason="tool_use"), ctx()
    )
    items = json.loads(route.translate_response(answer, c))["output"]
    sleep = next(i for i in items if i.get("name") == "sleep")
    assert (sleep["type"], sleep["namespace"], json.loads(sleep["arguments"])) == (
        "function_call",
        "clock",
        {"seconds": 1},
    )
    exec_call = next(i for i in items if i.get("name") == "exec")
    assert exec_call["type"] == "custom_tool_call"
    assert exec_call["input"] == "await tools.wait()"
    assert exec_call["namespace"] == "functions"


def _render(events: list[Any], end: str = "close") -> list[dict[str, Any]]:
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    renderer = CODEC.stream_renderer(ctx())
    out = [b for ev in events for b in renderer.render(ev)]
    out += renderer.close() if end == "close" else renderer.fail("rate_limit", "slow down")
    decoder = SSEDecoder()
    docs = [json.loads(e.data) for e in decoder.feed(b"".join(out)) + decoder.close()]
    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    for doc in docs:
        adapter.validate_python(doc)
    return docs


def test_stream_renderer_ends_incomplete_or_failed() -> None:
    from cal.transform.ir import BlockStart, BlockStop, Finish, MessageStart, TextDelta

    events = [
        MessageStart(id="u", model="m"),
        BlockStart(index=0, kind="text"),
        TextDelta(index=0, text="Once upon"),
        BlockStop(index=0),
        Finish(stop_reason="max_tokens"),
    ]
    docs = _render(events)
    assert docs[-1]["type"] == "response.incomplete"
    assert docs[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert docs[-1]["response"]["output"][0]["content"][0]["text"] == "Once upon"
    failed = _render(events[:3], end="fail")
    assert [d["type"] for d in failed][-1] == "response.failed"
    assert failed[-1]["response"]["error"] == {
        "code": "rate_limit_exceeded",
        "message": "slow down",
    }
    assert [d["sequence_number"] for d in failed] == list(range(len(failed)))


def test_stream_renderer_custom_call_and_redacted_reasoning() -> None:
    from cal.transform.ir import BlockStart, BlockStop, Finish, MessageStart, ToolArgsDelta

    events = [
        MessageStart(id="u", model="m"),
        BlockStart(index=0, kind="thinking", origin="anthropic", redacted=True, signature="RED"),
        BlockStop(index=0),
        BlockStart(
            index=1,
            kind="tool_call",
            id="c1",
            name="exec",
            tool_kind="custom",
            namespace="functions",
        ),
        ToolArgsDelta(index=1, fragment="print("),
        ToolArgsDelta(index=1, fragment="1)"),
        BlockStop(index=1),
        Finish(stop_reason="tool_use"),
    ]
    docs = _render(events)
    reasoning, call = docs[-1]["response"]["output"]
    assert reasoning["summary"] == []
    from cal.transform.ir import unseal

    assert unseal(reasoning["encrypted_content"]) == Thinking(
        signature="RED", origin="anthropic", redacted=True
    )
    assert call == {
        "type": "custom_tool_call",
        "id": call["id"],
        "call_id": "c1",
        "name": "exec",
        "input": "print(1)",
        "status": "completed",
        "namespace": "functions",
    }
    kinds = [d["type"] for d in docs]
    assert "response.custom_tool_call_input.delta" in kinds
    assert "response.custom_tool_call_input.done" in kinds


def test_stream_parser_reads_items_that_arrive_only_whole() -> None:
    """Some Responses servers send no part/delta events: the `done` items carry everything."""
    events = [
        {"type": "response.created", "response": {"id": "resp_9", "model": "m"}},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "reasoning", "id": "rs_9", "summary": []},
        },
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": {
                "type": "reasoning",
                "id": "rs_9",
                "encrypted_content": "E",
                "summary": [{"type": "summary_text", "text": "thought"}],
            },
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {"type": "message", "id": "msg_9", "role": "assistant", "content": []},
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {
                "type": "message",
                "id": "msg_9",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello"}],
            },
        },
        {
            "type": "response.completed",
            "response": {
                "id": "resp_9",
                "status": "completed",
                "output": [],
                "usage": {"input_tokens": 3, "output_tokens": 2},
            },
        },
    ]
    parser = ResponsesStreamParser(ctx())
    acc = Accumulator()
    for doc in events:
        raw = json.dumps(doc).encode()
        acc.extend(parser.feed(SSEDecoder().feed(b"data: " + raw + b"\n\n")[0]))
    acc.extend(parser.end())
    resp = acc.response()
    assert resp.content == [
        Thinking(text="thought", signature="E", origin="openai-responses", item_id="rs_9"),
        Text(text="Hello"),
    ]
    assert resp.usage == Usage(uncached_in=3, out_total=2)
