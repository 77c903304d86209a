"""Anthropic Messages responses, usage, stop reasons and errors ⇄ IR (protocols.md §1.1, §3.5-§3.7).

Rules: usage is canonical in between (`input_tokens` is uncached input only); a response block
from another provider's reasoning is shown as a `thinking` block whose signature is our sealed
envelope, so the next turn can carry it back; Anthropic's own thinking is passed byte-exact.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind, kind_for_status
from cal.transform import TranslationContext
from cal.transform.common import (
    ok_int,
    ok_str,
    raw,
    restore_tool,
    try_decode,
    unwrap_custom_input,
)
from cal.transform.ir import (
    Opaque,
    Part,
    Refusal,
    Response,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
    arguments_object,
    safe_tool_id,
    seal,
)

STOP_FROM: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "tool_use": "tool_use",
    "pause_turn": "pause_turn",
    "refusal": "refusal",
    "model_context_window_exceeded": "context_exceeded",
}
STOP_TO: dict[StopReason, str] = {v: k for k, v in STOP_FROM.items()} | {"other": "end_turn"}

_ERROR_KINDS: dict[str, ErrorKind] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "authentication",
    "permission_error": "permission",
    "billing_error": "permission",
    "not_found_error": "not_found",
    "request_too_large": "request_too_large",
    "rate_limit_error": "rate_limit",
    "api_error": "api_error",
    "timeout_error": "timeout",
    "overloaded_error": "overloaded",
}


def usage_from(u: Any, base: Usage | None = None) -> Usage:
    """Anthropic usage → canonical; fields absent from `u` keep `base`'s values (stream rule:
    message_delta values overwrite message_start's)."""
    out = msgspec.structs.replace(base) if base is not None else Usage()
    if not isinstance(u, dict):
        return out
    pairs = (
        ("input_tokens", "uncached_in"),
        ("cache_read_input_tokens", "cache_read"),
        ("cache_creation_input_tokens", "cache_write"),
        ("output_tokens", "out_total"),
    )
    for key, attr in pairs:
        value = ok_int(u.get(key))
        if value is not None:
            setattr(out, attr, value)
    details = u.get("output_tokens_details")
    if isinstance(details, dict) and ok_int(details.get("thinking_tokens")) is not None:
        out.reasoning = details["thinking_tokens"]
    return out


def usage_json(u: Usage) -> dict[str, Any]:
    """Canonical usage → Anthropic usage object."""
    out: dict[str, Any] = {
        "input_tokens": u.uncached_in,
        "cache_creation_input_tokens": u.cache_write,
        "cache_read_input_tokens": u.cache_read,
        "output_tokens": u.out_total,
    }
    if u.reasoning:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning}
    return out


def tool_call_from(block: dict[str, Any], arguments: str, ctx: TranslationContext) -> ToolCall:
    """An upstream tool_use as an IR call, with the original tool's name/namespace/kind."""
    alias = restore_tool(ok_str(block.get("name")) or "", ctx)
    if alias.kind == "custom":
        arguments = unwrap_custom_input(arguments)
    return ToolCall(
        id=ok_str(block.get("id")) or "",
        name=alias.name,
        arguments=arguments,
        kind=alias.kind,
        namespace=alias.namespace,
    )


def response_block(block: Any, ctx: TranslationContext) -> Part | None:
    """One upstream response content block as an IR part."""
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return Text(text=ok_str(block.get("text")) or "")
    if kind == "thinking":
        text = ok_str(block.get("thinking")) or ""
        return Thinking(text=text, signature=ok_str(block.get("signature")), origin="anthropic")
    if kind == "redacted_thinking":
        data = ok_str(block.get("data"))
        return Thinking(signature=data, origin="anthropic", redacted=True)
    if kind == "tool_use":
        args = msgspec.json.encode(block.get("input", {})).decode()
        return tool_call_from(block, args, ctx)
    ctx.note(f"upstream {kind!r} block kept only for Anthropic clients")
    return Opaque(origin="anthropic", kind=str(kind), data=raw(block))


def parse_response(body: bytes, ctx: TranslationContext) -> Response:
    """An Anthropic Message body as an IR response."""
    d = try_decode(body)
    if not isinstance(d, dict):
        d = {}
        ctx.note("upstream response is not a JSON object")
    blocks = d.get("content") if isinstance(d.get("content"), list) else []
    parts = [p for p in (response_block(b, ctx) for b in blocks or []) if p is not None]
    stop = ok_str(d.get("stop_reason")) or "end_turn"
    if stop not in STOP_FROM:
        ctx.note(f"upstream stop_reason {stop!r} shown as end_turn")
    explanation = refusal_explanation(d.get("stop_details"))
    if explanation:
        parts.append(Refusal(text=explanation))
    return Response(
        id=ok_str(d.get("id")) or "",
        model=ok_str(d.get("model")) or "",
        content=parts,
        stop_reason=STOP_FROM.get(stop, "other"),
        stop_sequence=ok_str(d.get("stop_sequence")),
        usage=usage_from(d.get("usage")),
    )


def refusal_explanation(details: Any) -> str | None:
    """The explanation of a refusal's `stop_details`, shown to clients that have a refusal field."""
    d = details if isinstance(details, dict) else {}
    return ok_str(d.get("explanation")) if d.get("type") == "refusal" else None


def thinking_block(part: Thinking) -> dict[str, Any]:
    """A thinking block for an Anthropic client: exact when Anthropic made it, sealed if not."""
    if part.origin == "anthropic" and part.signature is not None:
        if part.redacted:
            return {"type": "redacted_thinking", "data": part.signature}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature}
    return {"type": "thinking", "thinking": part.text, "signature": seal(part)}


def client_block(part: Part, ctx: TranslationContext) -> dict[str, Any] | None:
    """One IR part as a client response block (None when dropped, noted)."""
    if isinstance(part, Text | Refusal):
        return {"type": "text", "text": part.text}
    if isinstance(part, Thinking):
        return thinking_block(part)
    if isinstance(part, ToolCall):
        args = part.arguments
        obj = arguments_object(args) if part.kind == "function" else raw({"input": args})
        if obj is None:
            ctx.note(f"tool call {part.id}: arguments are not a JSON object, shown as {{}}")
            obj = msgspec.Raw(b"{}")
        return {"type": "tool_use", "id": safe_tool_id(part.id), "name": part.name, "input": obj}
    if isinstance(part, Opaque) and part.origin == "anthropic":
        return msgspec.json.decode(part.data)  # type: ignore[no-any-return]
    ctx.note(f"dropped a {type(part).__name__} part: no Anthropic response form")
    return None


def render_response(resp: Response, ctx: TranslationContext) -> bytes:
    """An IR response as an Anthropic Message body for the client."""
    content = [b for b in (client_block(p, ctx) for p in resp.content) if b is not None]
    body = {
        "id": ctx.make_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": ctx.client_model,
        "content": content,
        "stop_reason": STOP_TO[resp.stop_reason],
        "stop_sequence": resp.stop_sequence,
        "usage": usage_json(resp.usage),
    }
    return msgspec.json.encode(body)


def error_kind(error: Any, status: int) -> ErrorKind:
    """The kind of an Anthropic `error` object (the status's kind when unknown)."""
    etype = error.get("type") if isinstance(error, dict) else None
    return (
        _ERROR_KINDS.get(etype, kind_for_status(status))
        if isinstance(etype, str)
        else (kind_for_status(status))
    )


def parse_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """An Anthropic error body (any status) → (kind, message)."""
    d = try_decode(body)
    error = d.get("error") if isinstance(d, dict) else None
    message = ok_str(error.get("message")) if isinstance(error, dict) else None
    if message is None:
        text = body.decode("utf-8", "replace").strip()
        message = text[:500] or f"upstream returned HTTP {status}"
    return error_kind(error, status), message
