"""Anthropic Messages requests ⇄ IR (protocols.md §1.1, §3.1-§3.3, §3.9).

Parsing keeps everything: the top-level `system` becomes the leading system message, a user
message that opens with `tool_result` blocks becomes a tool message then a user message, thinking
blocks keep their exact text and signature (or open our envelope), unknown blocks become
`Opaque`, unknown top-level fields go to `extras`.

Rendering follows Anthropic's rules: leading instructions in `system`; later ones as
`<system-reminder>` user text (older models reject mid-conversation system messages); runs of
tool/user messages merged into one user message whose tool_results come first; tool ids made
safe; reasoning blobs sent only when Anthropic made them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from cal.transform import TranslationContext, TranslationError
from cal.transform.common import (
    canonical,
    load,
    memo_parsed_tools,
    ok_float,
    ok_int,
    ok_str,
    parse_fields,
    raw,
)
from cal.transform.ir import (
    CacheMark,
    File,
    Image,
    Message,
    Opaque,
    Part,
    Reasoning,
    Request,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    unseal,
)

DEFAULT_MAX_TOKENS = 8192
"""Anthropic requires `max_tokens`; used (and noted) when the client gave none."""

_KNOWN = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "stream",
        "stop_sequences",
        "metadata",
        "tools",
        "tool_choice",
        "thinking",
        "output_config",
        "cache_control",
        "temperature",
        "top_p",
        "top_k",
    }
)


# ---------------------------------------------------------------- parse (client side)


def cache_mark(value: Any) -> CacheMark | None:
    """An Anthropic `cache_control` object as a CacheMark."""
    if not isinstance(value, dict):
        return None
    return CacheMark(ttl=ok_str(value.get("ttl")))


def parse_thinking(block: dict[str, Any]) -> Thinking:
    """A thinking / redacted_thinking block, opening our envelope when it carries one."""
    redacted = block.get("type") == "redacted_thinking"
    blob = ok_str(block.get("data" if redacted else "signature"))
    if blob is not None:
        sealed = unseal(blob)
        if sealed is not None:
            return sealed
    text = "" if redacted else ok_str(block.get("thinking")) or ""
    return Thinking(text=text, signature=blob, origin="anthropic", redacted=redacted)


def parse_source_part(block: dict[str, Any]) -> Image | File | None:
    """An image or document block's source as an IR part (None for unknown sources)."""
    src = block.get("source")
    if not isinstance(src, dict):
        return None
    kind = src.get("type")
    cache = cache_mark(block.get("cache_control"))
    fields: dict[str, Any] = {
        "media_type": ok_str(src.get("media_type")),
        "data": ok_str(src.get("data")) if kind in ("base64", "text") else None,
        "url": ok_str(src.get("url")) if kind == "url" else None,
        "file_id": ok_str(src.get("file_id")) if kind == "file" else None,
        "cache": cache,
    }
    if block.get("type") == "image":
        return Image(**fields) if kind in ("base64", "url", "file") else None
    if kind == "text":
        fields["text"], fields["data"] = fields["data"], None
    elif kind not in ("base64", "url", "file"):
        return None
    return File(**fields, title=ok_str(block.get("title")))


def parse_block(block: Any, ctx: TranslationContext) -> Part:
    """One request content block."""
    if isinstance(block, str):
        return Text(text=block)
    if not isinstance(block, dict):
        return Opaque(origin="anthropic", kind="invalid", data=raw(block))
    kind = block.get("type")
    cache = cache_mark(block.get("cache_control"))
    if kind == "text":
        if block.get("citations"):
            ctx.note("citations on text blocks are not carried")
        return Text(text=ok_str(block.get("text")) or "", cache=cache)
    if kind in ("thinking", "redacted_thinking"):
        return parse_thinking(block)
    if kind == "tool_use":
        return ToolCall(
            id=ok_str(block.get("id")) or "",
            name=ok_str(block.get("name")) or "",
            arguments=msgspec.json.encode(block.get("input", {})).decode(),
            cache=cache,
        )
    if kind == "tool_result":
        return parse_tool_result(block, ctx)
    if kind in ("image", "document"):
        part = parse_source_part(block)
        if part is not None:
            return part
    return Opaque(origin="anthropic", kind=str(kind), data=raw(block))


def parse_tool_result(block: dict[str, Any], ctx: TranslationContext) -> ToolResult:
    """A tool_result block; its content keeps text, images and documents."""
    content = block.get("content")
    parts: list[Text | Image | File] = []
    if isinstance(content, str):
        parts.append(Text(text=content))
    elif isinstance(content, list):
        for item in content:
            part = parse_block(item, ctx)
            if isinstance(part, Text | Image | File):
                parts.append(part)
            else:
                ctx.note("dropped a tool_result content block that is not text, image or document")
    return ToolResult(
        call_id=ok_str(block.get("tool_use_id")) or "",
        content=parts,
        is_error=block.get("is_error") is True,
        cache=cache_mark(block.get("cache_control")),
    )


def parse_message(msg: Any, ctx: TranslationContext) -> list[Message]:
    """One Anthropic message → IR messages (a user message with tool results splits in two)."""
    if not isinstance(msg, dict):
        raise TranslationError("each message must be an object")
    role = msg.get("role")
    if role not in ("user", "assistant", "system"):
        raise TranslationError(f"unknown message role {role!r}")
    content = msg.get("content")
    blocks = [content] if isinstance(content, str) else content if isinstance(content, list) else []
    parts = [parse_block(b, ctx) for b in blocks]
    extras = {k: raw(v) for k, v in msg.items() if k not in ("role", "content")}
    if role != "user" or not any(isinstance(p, ToolResult) for p in parts):
        return [Message(role=role, content=parts, extras=extras)]
    results: list[Part] = [p for p in parts if isinstance(p, ToolResult)]
    rest: list[Part] = [p for p in parts if not isinstance(p, ToolResult)]
    out = [Message(role="tool", content=results, extras=extras)]
    if rest:
        out.append(Message(role="user", content=rest))
    return out


def parse_system(system: Any, ctx: TranslationContext) -> list[Message]:
    """The top-level `system` as the leading system message."""
    if isinstance(system, str):
        return [Message(role="system", content=[Text(text=system)])] if system else []
    if isinstance(system, list) and system:
        return [Message(role="system", content=[parse_block(b, ctx) for b in system])]
    return []


def _tools(tools: Any, note: Callable[[str], None]) -> list[Tool]:
    """Custom tools; server tools (versioned `type`) are dropped with a note."""
    out: list[Tool] = []
    for t in tools if isinstance(tools, list) else []:
        if not isinstance(t, dict):
            continue
        if t.get("type") not in (None, "custom"):
            note(f"dropped Anthropic server tool {t.get('type')!r}: no equivalent upstream")
            continue
        known = ("name", "description", "input_schema", "cache_control", "strict", "type")
        out.append(
            Tool(
                name=ok_str(t.get("name")) or "",
                description=ok_str(t.get("description")),
                parameters=raw(t["input_schema"]) if "input_schema" in t else None,
                strict=t.get("strict") if isinstance(t.get("strict"), bool) else None,
                cache=cache_mark(t.get("cache_control")),
                extras={k: raw(v) for k, v in t.items() if k not in known},
            )
        )
    return out


def memo_tools(tools: msgspec.Raw | None, ctx: TranslationContext) -> list[Tool]:
    """The request's tools from its raw `tools` field, memoized by its bytes (Claude Code sends
    the same tool list on every turn)."""
    return [] if tools is None else memo_parsed_tools("anthropic.tools", tools, ctx, _tools)


def parse_tool_choice(tc: Any) -> tuple[ToolChoice | None, bool | None]:
    """(choice, parallel_tool_calls) from Anthropic's tool_choice."""
    if not isinstance(tc, dict):
        return None, None
    parallel = False if tc.get("disable_parallel_tool_use") is True else None
    mode = tc.get("type")
    if mode == "tool":
        return ToolChoice(mode="tool", name=ok_str(tc.get("name"))), parallel
    if mode in ("auto", "any", "none"):
        return ToolChoice(mode=mode), parallel
    return None, parallel


def parse_reasoning(thinking: Any, config: Any) -> tuple[Reasoning | None, ResponseFormat | None]:
    """`thinking` + `output_config` as reasoning settings and structured output."""
    config = config if isinstance(config, dict) else {}
    reasoning = None
    if isinstance(thinking, dict) or "effort" in config:
        th = thinking if isinstance(thinking, dict) else {}
        reasoning = Reasoning(
            mode=ok_str(th.get("type")),
            budget_tokens=ok_int(th.get("budget_tokens")),
            display=ok_str(th.get("display")),
            effort=ok_str(config.get("effort")),
        )
    fmt = config.get("format")
    response_format = None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        response_format = ResponseFormat(
            kind="json_schema", schema=raw(fmt.get("schema", {})), name="response"
        )
    return reasoning, response_format


def parse_request(body: bytes, ctx: TranslationContext) -> Request:
    """An Anthropic Messages request body as an IR request."""
    return parse_fields(body, ctx, lambda fields: _request(fields, ctx))


def _request(f: dict[str, msgspec.Raw], ctx: TranslationContext) -> Request:
    messages_value = load(f, "messages")
    if not isinstance(messages_value, list):
        raise TranslationError("messages: an array is required")
    messages = parse_system(load(f, "system"), ctx)
    for m in messages_value:
        messages += parse_message(m, ctx)
    choice, parallel = parse_tool_choice(load(f, "tool_choice"))
    reasoning, response_format = parse_reasoning(load(f, "thinking"), load(f, "output_config"))
    metadata = load(f, "metadata")
    user = ok_str(metadata.get("user_id")) if isinstance(metadata, dict) else None
    stop = load(f, "stop_sequences")
    return Request(
        origin="anthropic",
        model=ok_str(load(f, "model")) or "",
        messages=messages,
        tools=memo_tools(f.get("tools"), ctx),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        max_tokens=ok_int(load(f, "max_tokens")),
        temperature=ok_float(load(f, "temperature")),
        top_p=ok_float(load(f, "top_p")),
        top_k=ok_int(load(f, "top_k")),
        stop=[s for s in stop if isinstance(s, str)] if isinstance(stop, list) else None,
        reasoning=reasoning,
        response_format=response_format,
        user=user,
        cache=cache_mark(load(f, "cache_control")),
        stream=load(f, "stream") is True,
        extras={k: canonical(v) for k, v in f.items() if k not in _KNOWN},
    )
