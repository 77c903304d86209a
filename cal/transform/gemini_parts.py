"""Gemini parts, usage and finish reasons ⇄ IR (shared by bodies and streams).

Usage (protocols.md §3.6): Gemini's prompt count includes cached tokens and its candidates count
excludes thoughts. Finish reasons (§3.5): `STOP` with a function call in the turn is `tool_use`.
Function calls from Gemini have no id on older models: they get `call_` + a hash of the response
id and the call's position, identical for a stream and its non-stream twin. A Gemini client sees
other providers' reasoning as thought text plus an empty thought part whose `thoughtSignature` is
the sealed block (protocols.md §3.8).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind, kind_for_status
from cal.transform import TranslationContext
from cal.transform.common import arr, obj, ok_int, ok_str, restore_tool, unwrap_custom_input
from cal.transform.gemini_request import ORIGIN, seal_signature, signature_block, synth_call_id
from cal.transform.ir import (
    Part,
    Refusal,
    StopReason,
    Text,
    Thinking,
    ToolCall,
    Usage,
)

_REFUSALS = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"}
    | {"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "IMAGE_OTHER", "MODEL_ARMOR"}
)
_STATUS_KINDS: dict[str, ErrorKind] = {
    "RESOURCE_EXHAUSTED": "rate_limit",
    "UNAVAILABLE": "unavailable",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAUTHENTICATED": "authentication",
    "PERMISSION_DENIED": "permission",
    "NOT_FOUND": "not_found",
    "INVALID_ARGUMENT": "invalid_request",
    "FAILED_PRECONDITION": "invalid_request",
    "INTERNAL": "api_error",
}


# ---------------------------------------------------------------- usage and stop reasons


def parse_usage(meta: Any) -> Usage:
    """`usageMetadata` → canonical usage (cumulative on streams: take the last one)."""
    if not isinstance(meta, dict):
        return Usage()
    prompt = ok_int(meta.get("promptTokenCount")) or 0
    cached = ok_int(meta.get("cachedContentTokenCount")) or 0
    tool_prompt = ok_int(meta.get("toolUsePromptTokenCount")) or 0
    thoughts = ok_int(meta.get("thoughtsTokenCount")) or 0
    return Usage(
        uncached_in=max(0, prompt - cached) + tool_prompt,
        cache_read=cached,
        out_total=(ok_int(meta.get("candidatesTokenCount")) or 0) + thoughts,
        reasoning=thoughts,
    )


def usage_json(usage: Usage) -> dict[str, Any]:
    """Canonical usage → `usageMetadata`."""
    prompt = usage.input_total()
    candidates = max(0, usage.out_total - usage.reasoning)
    out: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    if usage.cache_read:
        out["cachedContentTokenCount"] = usage.cache_read
    if usage.reasoning:
        out["thoughtsTokenCount"] = usage.reasoning
    out["totalTokenCount"] = prompt + candidates + usage.reasoning
    return out


def stop_reason_of(finish: str | None, called: bool, ctx: TranslationContext) -> StopReason:
    """IR stop reason for a Gemini finishReason (`called`: the turn held a function call)."""
    if finish in (None, "STOP", "FINISH_REASON_UNSPECIFIED"):
        return "tool_use" if called else "end_turn"
    if finish in ("MAX_TOKENS", "CONTINUATION"):
        return "max_tokens"
    if finish in _REFUSALS:
        return "refusal"
    ctx.note(f"gemini upstream: finishReason {finish} reported as a normal end")
    return "tool_use" if called else "end_turn"


def finish_reason_of(stop: StopReason) -> str:
    """Gemini finishReason for an IR stop reason."""
    if stop in ("max_tokens", "context_exceeded"):
        return "MAX_TOKENS"
    return "SAFETY" if stop == "refusal" else "STOP"


# ---------------------------------------------------------------- upstream parts → IR


class PartReader:
    """Turns Gemini response parts into IR parts, numbering calls for synthesized ids."""

    def __init__(self, response_id: str, ctx: TranslationContext) -> None:
        self.response_id = response_id
        self.ctx = ctx
        self.calls = 0

    def read(self, part: dict[str, Any]) -> list[Part]:
        """One part → IR parts (a signature becomes a Thinking before its part)."""
        signature = ok_str(part.get("thoughtSignature"))
        if part.get("thought") and "text" in part:
            return [Thinking(text=str(part["text"]), signature=signature, origin=ORIGIN)]
        out: list[Part] = [signature_block(signature)] if signature else []
        if "functionCall" in part:
            out.append(self.call(obj(part["functionCall"])))
        elif part.get("text"):
            out.append(Text(text=str(part["text"])))
        elif "text" not in part:
            self.ctx.note(f"gemini upstream: dropped response part {next(iter(part), '')!r}")
        return out

    def call(self, call: dict[str, Any]) -> ToolCall:
        """A `functionCall` → IR call (original name and kind restored from the aliases)."""
        alias = restore_tool(str(call.get("name", "")), self.ctx)
        call_id = ok_str(call.get("id")) or synth_call_id(self.response_id, self.calls)
        self.calls += 1
        args = msgspec.json.encode(obj(call.get("args"))).decode()
        if alias.kind == "custom":
            args = unwrap_custom_input(args)
        return ToolCall(
            id=call_id, name=alias.name, arguments=args, kind=alias.kind, namespace=alias.namespace
        )


# ---------------------------------------------------------------- IR → client


def thinking_parts(block: Thinking) -> list[dict[str, Any]]:
    """Reasoning for a Gemini client: visible thought text, then the sealed block (a Gemini
    client replays it as `thoughtSignature`; cal opens it on the next turn)."""
    out: list[dict[str, Any]] = []
    if block.text and not block.redacted:
        out.append({"text": block.text, "thought": True})
    out.append({"text": "", "thought": True, "thoughtSignature": seal_signature(block)})
    return out


def call_part(call: ToolCall, ctx: TranslationContext) -> dict[str, Any]:
    """A tool call as a whole `functionCall` part (arguments that are not an object: `{}`)."""
    try:
        args = msgspec.json.decode(call.arguments or "{}")
    except msgspec.DecodeError:
        args = None
    if call.kind == "custom":
        args = {"input": call.arguments}
    if not isinstance(args, dict):
        ctx.note(f"gemini client: arguments of a {call.name!r} call are not an object")
        args = {}
    return {"functionCall": {"name": call.name, "args": args, "id": call.id}}


def client_parts(content: list[Part], ctx: TranslationContext) -> list[dict[str, Any]]:
    """IR response content → Gemini client parts."""
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, Text | Refusal):
            parts.append({"text": part.text})
        elif isinstance(part, Thinking):
            parts += thinking_parts(part)
        elif isinstance(part, ToolCall):
            parts.append(call_part(part, ctx))
        else:
            ctx.note(f"gemini client: dropped a {type(part).__name__} output part")
    return parts


def error_kind(error: dict[str, Any], status: int) -> ErrorKind:
    """The error kind of a Gemini `error` object."""
    details = arr(error.get("details"))
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if "API_KEY_INVALID" in reasons:
        return "authentication"
    return _STATUS_KINDS.get(str(error.get("status")), kind_for_status(status))
