"""OpenAI Chat Completions responses, usage, finish reasons and errors ⇄ IR (protocols.md §1.2,
§3.5-§3.7).

Rules: `prompt_tokens` includes cached input and `completion_tokens` includes reasoning, so the
canonical record subtracts once and Chat's fields are re-derived from it (never summed twice). A
`stop` finish with tool calls in the turn is a tool_use stop. Reasoning Chat cannot show is
dropped with a note; the non-standard `reasoning_content` of Chat-compatible servers is read.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind, kind_for_status
from cal.transform import TranslationContext
from cal.transform.common import arr, obj, ok_int, ok_str, restore_tool, try_decode
from cal.transform.ir import (
    Part,
    Refusal,
    Response,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
)

FINISH_FROM: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
FINISH_TO: dict[StopReason, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "context_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
    "other": "stop",
}


def finish_reason(value: Any, saw_tool_calls: bool, ctx: TranslationContext) -> StopReason:
    """A Chat finish_reason as a stop reason (tool calls in the turn make `stop` a tool_use)."""
    reason = FINISH_FROM.get(value, "other") if isinstance(value, str) else "end_turn"
    if reason == "other":
        ctx.note(f"upstream finish_reason {value!r} shown as a normal end")
    if saw_tool_calls and reason in ("end_turn", "other"):
        return "tool_use"
    return reason


def usage_from(u: Any) -> Usage:
    """Chat usage → canonical (protocols.md §3.6)."""
    u = obj(u)
    prompt = ok_int(u.get("prompt_tokens")) or 0
    pd, cd = obj(u.get("prompt_tokens_details")), obj(u.get("completion_tokens_details"))
    cached = ok_int(pd.get("cached_tokens")) or 0
    written = ok_int(pd.get("cache_write_tokens")) or 0
    return Usage(
        uncached_in=max(prompt - cached - written, 0),
        cache_read=cached,
        cache_write=written,
        out_total=ok_int(u.get("completion_tokens")) or 0,
        reasoning=ok_int(cd.get("reasoning_tokens")) or 0,
    )


def usage_json(u: Usage) -> dict[str, Any]:
    """Canonical usage → Chat usage object."""
    prompt = u.input_total()
    details: dict[str, Any] = {"cached_tokens": u.cache_read}
    if u.cache_write:
        details["cache_write_tokens"] = u.cache_write
    return {
        "prompt_tokens": prompt,
        "completion_tokens": u.out_total,
        "total_tokens": prompt + u.out_total,
        "prompt_tokens_details": details,
        "completion_tokens_details": {"reasoning_tokens": u.reasoning},
    }


def tool_call_from(tc: Any, ctx: TranslationContext) -> ToolCall:
    """An upstream tool call, with the original tool's name and namespace."""
    t = obj(tc)
    custom = t.get("type") == "custom"
    body = obj(t.get("custom" if custom else "function"))
    alias = restore_tool(ok_str(body.get("name")) or "", ctx)
    args = body.get("input" if custom else "arguments")
    text = args if isinstance(args, str) else msgspec.json.encode(args or {}).decode()
    return ToolCall(
        id=ok_str(t.get("id")) or "",
        name=alias.name,
        arguments=text,
        kind="custom" if custom else alias.kind,
        namespace=alias.namespace,
    )


def parse_response(body: bytes, ctx: TranslationContext) -> Response:
    """A chat.completion body as an IR response (first choice)."""
    d = obj(try_decode(body))
    choices = arr(d.get("choices"))
    if len(choices) > 1:
        ctx.note(f"upstream returned {len(choices)} choices; the first is used")
    choice = obj(choices[0]) if choices else {}
    msg = obj(choice.get("message"))
    parts: list[Part] = []
    reasoning = ok_str(msg.get("reasoning_content")) or ok_str(msg.get("reasoning"))
    if reasoning:
        parts.append(Thinking(text=reasoning, origin="openai-chat"))
    if ok_str(msg.get("content")):
        parts.append(Text(text=msg["content"]))
    if ok_str(msg.get("refusal")):
        parts.append(Refusal(text=msg["refusal"]))
    calls = [tool_call_from(tc, ctx) for tc in arr(msg.get("tool_calls"))]
    return Response(
        id=ok_str(d.get("id")) or "",
        model=ok_str(d.get("model")) or "",
        content=parts + list(calls),
        stop_reason=finish_reason(choice.get("finish_reason"), bool(calls), ctx),
        usage=usage_from(d.get("usage")),
        created=ok_int(d.get("created")),
    )


def tool_call_json(call: ToolCall) -> dict[str, Any]:
    """A ToolCall as a Chat tool call (custom tools keep their raw input)."""
    if call.kind == "custom":
        return {
            "id": call.id,
            "type": "custom",
            "custom": {"name": call.name, "input": call.arguments},
        }
    fn = {"name": call.name, "arguments": call.arguments}
    return {"id": call.id, "type": "function", "function": fn}


def render_response(resp: Response, ctx: TranslationContext) -> bytes:
    """An IR response as a chat.completion body for the client."""
    text = "".join(p.text for p in resp.content if isinstance(p, Text))
    refusal = "".join(p.text for p in resp.content if isinstance(p, Refusal))
    calls = [tool_call_json(p) for p in resp.content if isinstance(p, ToolCall)]
    if any(not isinstance(p, Text | Refusal | ToolCall) for p in resp.content):
        ctx.note("dropped reasoning/other blocks: Chat responses have no field for them")
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or None,
        "refusal": refusal or None,
    }
    if calls:
        message["tool_calls"] = calls
    body = {
        "id": ctx.make_id("chatcmpl-"),
        "object": "chat.completion",
        "created": ctx.now(),
        "model": ctx.client_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": FINISH_TO[resp.stop_reason],
                "logprobs": None,
            }
        ],
        "usage": usage_json(resp.usage),
    }
    return msgspec.json.encode(body)


_CODE_KINDS: dict[str, ErrorKind] = {
    "invalid_api_key": "authentication",
    "model_not_found": "not_found",
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "context_length_exceeded": "invalid_request",
    "server_is_overloaded": "overloaded",
    "service_unavailable_error": "unavailable",
}


def error_kind(error: Any, status: int) -> ErrorKind:
    """The kind of an OpenAI `error` object, by code/type, else by status."""
    e = obj(error)
    for key in ("code", "type"):
        value = e.get(key)
        if isinstance(value, str) and value in _CODE_KINDS:
            return _CODE_KINDS[value]
    return kind_for_status(status)


def parse_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """An OpenAI error body (any status) → (kind, message)."""
    error = obj(try_decode(body)).get("error")
    message = ok_str(obj(error).get("message"))
    if message is None:
        text = body.decode("utf-8", "replace").strip()
        message = text[:500] or f"upstream returned HTTP {status}"
    return error_kind(error, status), message
