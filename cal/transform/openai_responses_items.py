"""Responses output items ⇄ IR parts, and the usage object (shared by bodies and streams).

Output items: `message` (output_text / refusal parts), `function_call`, `custom_tool_call`,
`reasoning`; anything else is kept as `Opaque`. Reasoning another provider produced is sealed into
`encrypted_content` (protocols.md §3.8) so the client can send it back on the next turn.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats import ApiFormat
from cal.transform import TranslationContext
from cal.transform.common import ItemFields, arr, obj, ok_int, ok_str
from cal.transform.ir import (
    Opaque,
    Part,
    Refusal,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
    seal,
    unseal,
)

_ORIGIN: ApiFormat = "openai-responses"


def raw(value: Any) -> msgspec.Raw:
    """A JSON value as raw JSON."""
    return msgspec.Raw(msgspec.json.encode(value))


def load(value: msgspec.Raw) -> Any:
    """Raw JSON back to a value."""
    return msgspec.json.decode(value)


def usage_json(usage: Usage) -> dict[str, Any]:
    """Canonical usage → Responses `usage` (input includes cache; output includes reasoning)."""
    total_in = usage.input_total()
    return {
        "input_tokens": total_in,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
        },
        "output_tokens": usage.out_total,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": total_in + usage.out_total,
    }


def parse_usage(doc: Any) -> Usage:
    """Responses `usage` → canonical usage (input includes cache; output includes reasoning)."""
    if not isinstance(doc, dict):
        return Usage()
    details = obj(doc.get("input_tokens_details"))
    out_details = obj(doc.get("output_tokens_details"))
    cache_read = ok_int(details.get("cached_tokens")) or 0
    cache_write = ok_int(details.get("cache_write_tokens")) or 0
    return Usage(
        uncached_in=max(0, (ok_int(doc.get("input_tokens")) or 0) - cache_read - cache_write),
        cache_read=cache_read,
        cache_write=cache_write,
        out_total=(ok_int(doc.get("output_tokens")) or 0),
        reasoning=(ok_int(out_details.get("reasoning_tokens")) or 0),
    )


def response_status(stop: StopReason) -> tuple[str, dict[str, str] | None]:
    """Responses `status` and `incomplete_details` for an IR stop reason."""
    if stop in ("max_tokens", "context_exceeded"):
        return "incomplete", {"reason": "max_output_tokens"}
    if stop == "refusal":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_object(
    resp_id: str, ctx: TranslationContext, status: str, output: list[dict[str, Any]]
) -> dict[str, Any]:
    """The Responses `response` object skeleton (usage and details filled by the caller)."""
    return {
        "id": resp_id,
        "object": "response",
        "created_at": ctx.now(),
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": ctx.client_model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": None,
    }


# ---------------------------------------------------------------- IR → items


def message_item(item_id: str, parts: list[dict[str, Any]], status: str) -> dict[str, Any]:
    """An assistant `message` output item."""
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def text_part(text: str) -> dict[str, Any]:
    """An `output_text` content part."""
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def call_item(call: ToolCall, item_id: str, status: str) -> dict[str, Any]:
    """A `function_call` or `custom_tool_call` output item."""
    if call.kind == "custom":
        out: dict[str, Any] = {"type": "custom_tool_call", "id": item_id, "call_id": call.id}
        out.update(name=call.name, input=call.arguments, status=status)
    else:
        out = {"type": "function_call", "id": item_id, "call_id": call.id, "name": call.name}
        out.update(arguments=call.arguments, status=status)
    if call.namespace:
        out["namespace"] = call.namespace
    return out


def reasoning_item(block: Thinking, item_id: str) -> dict[str, Any]:
    """A `reasoning` output item; a foreign blob travels sealed in `encrypted_content`."""
    summary = block.summary if block.summary is not None else [block.text] if block.text else []
    out: dict[str, Any] = {
        "type": "reasoning",
        "id": item_id,
        "summary": [{"type": "summary_text", "text": s} for s in summary],
    }
    if block.origin == _ORIGIN:
        if block.signature:
            out["encrypted_content"] = block.signature
    else:
        out["encrypted_content"] = seal(block)
    return out


def output_items(content: list[Part], ctx: TranslationContext) -> list[dict[str, Any]]:
    """IR response content → Responses output items (one message item per text block, as the
    stream renderer emits them)."""
    items: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, Text | Refusal):
            body = (
                text_part(part.text)
                if isinstance(part, Text)
                else {"type": "refusal", "refusal": part.text}
            )
            items.append(message_item(ctx.make_id("msg_"), [body], "completed"))
        elif isinstance(part, ToolCall):
            items.append(call_item(part, ctx.make_id("fc_"), "completed"))
        elif isinstance(part, Thinking):
            items.append(reasoning_item(part, ctx.make_id("rs_")))
        else:
            ctx.note(f"responses client: dropped a {type(part).__name__} output part")
    return items


# ---------------------------------------------------------------- items → IR


def _message_parts(item: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    for c in arr(item.get("content")):
        if not isinstance(c, dict):
            continue
        if c.get("type") == "refusal":
            parts.append(Refusal(text=str(c.get("refusal", ""))))
        elif "text" in c:
            parts.append(Text(text=str(c.get("text", ""))))
    return parts


def parse_reasoning(item: ItemFields) -> Thinking:
    """A `reasoning` item → IR thinking (sealed envelopes opened back to their origin)."""
    blob = item.get("encrypted_content")
    sealed = unseal(blob) if isinstance(blob, str) else None
    if sealed is not None:
        return sealed
    summary = [str(s.get("text", "")) for s in arr(item.get("summary")) if isinstance(s, dict)]
    content = [str(c.get("text", "")) for c in arr(item.get("content")) if isinstance(c, dict)]
    return Thinking(
        text="\n\n".join(summary or content),
        signature=blob if isinstance(blob, str) else None,
        origin=_ORIGIN,
        summary=summary if len(summary) > 1 else None,
        item_id=ok_str(item.get("id")),
    )


def parse_call(item: ItemFields) -> ToolCall:
    """A `function_call` / `custom_tool_call` item → IR tool call."""
    custom = item.get("type") == "custom_tool_call"
    return ToolCall(
        id=str(item.get("call_id") or item.get("id") or ""),
        name=str(item.get("name", "")),
        arguments=str(item.get("input" if custom else "arguments") or ""),
        kind="custom" if custom else "function",
        namespace=ok_str(item.get("namespace")),
        item_id=ok_str(item.get("id")),
    )


def parse_output(output: Any, ctx: TranslationContext) -> list[Part]:
    """Responses `output` items → IR content parts (unknown items kept as opaque, noted)."""
    parts: list[Part] = []
    for item in output if isinstance(output, list) else []:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            parts += _message_parts(item)
        elif kind in ("function_call", "custom_tool_call"):
            parts.append(parse_call(item))
        elif kind == "reasoning":
            parts.append(parse_reasoning(item))
        else:
            ctx.note(f"responses upstream: kept output item {kind!r} as opaque")
            parts.append(Opaque(origin=_ORIGIN, kind=str(kind), data=raw(item)))
    return parts
