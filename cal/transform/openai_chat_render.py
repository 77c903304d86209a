"""IR request → OpenAI Chat Completions request body (for a Chat upstream).

Rules (protocols.md §3.1-§3.3, §3.6, §3.9, §3.10): instructions in place with their role; each
tool result its own `tool` message (images moved to a following user message, error results
marked in text); tool calls with their arguments string verbatim; namespaced tools flattened;
cache marks as `prompt_cache_breakpoint`; `stream_options.include_usage` always set on streams;
reasoning blobs of other providers dropped (Chat has no field for them).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.transform import TranslationContext
from cal.transform.common import (
    data_url,
    from_raw,
    memo_rendered,
    note_dropped_extras,
    renamed,
    upstream_tool_name,
)
from cal.transform.ir import (
    CacheMark,
    File,
    Image,
    Message,
    Opaque,
    Part,
    Reasoning,
    Refusal,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

SHARED_OPENAI_FIELDS = frozenset(
    {
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "service_tier",
        "store",
        "safety_identifier",
        "top_logprobs",
        "verbosity",
    }
)
"""Extras an OpenAI Responses client may carry that a Chat upstream understands as-is."""
_TTL_TO_OPENAI = {"1h": "12h", "5m": None}
_NO_REASONING_PREFIXES = ("gpt-4", "gpt-3.5", "chatgpt-4o")
"""OpenAI models that reject `reasoning_effort`."""


def _cache_json(mark: CacheMark | None) -> dict[str, Any] | None:
    if mark is None:
        return None
    ttl = _TTL_TO_OPENAI.get(mark.ttl, mark.ttl) if mark.ttl else None
    out: dict[str, Any] = {"mode": "explicit"}
    if ttl in ("30m", "12h"):
        out["ttl"] = ttl
    return out


def _with_cache(part: dict[str, Any], mark: CacheMark | None) -> dict[str, Any]:
    cc = _cache_json(mark)
    if cc is not None:
        part["prompt_cache_breakpoint"] = cc
    return part


def render_part(part: Part, ctx: TranslationContext) -> dict[str, Any] | None:
    """A user/system content part (None when Chat cannot carry it, noted)."""
    if isinstance(part, Text):
        return _with_cache({"type": "text", "text": part.text}, part.cache)
    if isinstance(part, Image):
        url = data_url(part.media_type, part.data) if part.data is not None else part.url
        if url is None:
            ctx.note("dropped an image given by file id (Chat takes URLs or data URLs)")
            return None
        img: dict[str, Any] = {"url": url}
        if part.detail:
            img["detail"] = part.detail
        return _with_cache({"type": "image_url", "image_url": img}, part.cache)
    if isinstance(part, File):
        return _file_part(part, ctx)
    if isinstance(part, Opaque) and part.origin == "openai-chat":
        return msgspec.json.decode(part.data)  # type: ignore[no-any-return]
    ctx.note(f"dropped a {type(part).__name__} part: no Chat form here")
    return None


def _file_part(part: File, ctx: TranslationContext) -> dict[str, Any] | None:
    if part.text is not None:
        return _with_cache({"type": "text", "text": part.text}, part.cache)
    f: dict[str, Any] = {}
    if part.data is not None:
        f["file_data"] = data_url(part.media_type or "application/pdf", part.data)
        f["filename"] = part.filename or part.title or "document.pdf"
    elif part.file_id is not None:
        f["file_id"] = part.file_id
    else:
        ctx.note("dropped a file given by URL (Chat takes file data or ids)")
        return None
    return _with_cache({"type": "file", "file": f}, part.cache)


def _content(parts: list[Part], ctx: TranslationContext) -> str | list[dict[str, Any]]:
    rendered = [r for r in (render_part(p, ctx) for p in parts) if r is not None]
    if len(rendered) == 1 and rendered[0]["type"] == "text" and len(rendered[0]) == 2:
        return str(rendered[0]["text"])
    return rendered


def _tool_call_json(call: ToolCall, ctx: TranslationContext) -> dict[str, Any]:
    name = upstream_tool_name(
        call.name, call.namespace, call.kind, ctx, custom_native=True, strict_chars=True
    )
    if call.kind == "custom":
        return {"id": call.id, "type": "custom", "custom": {"name": name, "input": call.arguments}}
    fn = {"name": name, "arguments": call.arguments or "{}"}
    return {"id": call.id, "type": "function", "function": fn}


def render_assistant(msg: Message, ctx: TranslationContext) -> dict[str, Any]:
    """An assistant message: joined text, refusal, tool calls (reasoning dropped, noted)."""
    text = "".join(p.text for p in msg.content if isinstance(p, Text))
    refusal = "".join(p.text for p in msg.content if isinstance(p, Refusal))
    calls = [_tool_call_json(p, ctx) for p in msg.content if isinstance(p, ToolCall)]
    out: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if refusal:
        out["refusal"] = refusal
    if calls:
        out["tool_calls"] = calls
    for p in msg.content:
        if isinstance(p, Thinking):
            if p.origin == "openai-chat":
                out["reasoning_content"] = p.text
            else:
                ctx.note("dropped reasoning in history: Chat cannot carry it")
        elif not isinstance(p, Text | Refusal | ToolCall):
            ctx.note(f"dropped a {type(p).__name__} part of an assistant turn")
    return out


def render_tool_results(msg: Message, ctx: TranslationContext) -> list[dict[str, Any]]:
    """One `tool` message per result; images follow in a user message; errors marked."""
    out: list[dict[str, Any]] = []
    images: list[Part] = []
    for r in msg.content:
        if not isinstance(r, ToolResult):
            continue
        texts = [p for p in r.content if isinstance(p, Text)]
        images += [p for p in r.content if not isinstance(p, Text)]
        text = "".join(t.text for t in texts)
        if r.is_error:
            ctx.note("tool error results are marked 'Error:' in text (Chat has no error flag)")
            text = f"Error: {text}"
        out.append({"role": "tool", "tool_call_id": r.call_id, "content": text})
    if images:
        ctx.note("images of tool results moved to a following user message")
        out.append({"role": "user", "content": _content(images, ctx)})
    return out


def render_messages(messages: list[Message], ctx: TranslationContext) -> list[dict[str, Any]]:
    """Every IR message as Chat messages, in order."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "assistant":
            out.append(render_assistant(msg, ctx))
        elif msg.role == "tool":
            out += render_tool_results(msg, ctx)
        else:
            entry: dict[str, Any] = {"role": msg.role, "content": _content(msg.content, ctx)}
            if msg.name:
                entry["name"] = msg.name
            out.append(entry)
        for key in msg.extras:
            ctx.note(f"dropped per-message field {key!r}")
    return out


def render_tools(tools: list[Tool], ctx: TranslationContext) -> list[dict[str, Any]]:
    """Function and custom tool definitions."""
    out: list[dict[str, Any]] = []
    for t in tools:
        name = upstream_tool_name(
            t.name, t.namespace, t.kind, ctx, custom_native=True, strict_chars=True
        )
        if t.cache is not None:
            ctx.note("cache mark on a tool definition not carried (Chat marks content parts)")
        if t.kind == "custom":
            custom: dict[str, Any] = {"name": name}
            if t.description:
                custom["description"] = t.description
            if t.format is not None:
                custom["format"] = t.format
            out.append({"type": "custom", "custom": custom})
            continue
        fn: dict[str, Any] = {"name": name}
        if t.description:
            fn["description"] = t.description
        fn["parameters"] = t.parameters or {"type": "object", "properties": {}}
        if t.strict is not None:
            fn["strict"] = t.strict
        out.append({"type": "function", "function": fn})
    return out


def render_tool_choice(choice: ToolChoice, req: Request, ctx: TranslationContext) -> Any:
    """tool_choice in Chat's form (names as the tools were sent)."""
    if choice.allowed:
        tools = [
            {"type": "function", "function": {"name": renamed(n, ctx)}} for n in choice.allowed
        ]
        mode = "required" if choice.mode == "any" else "auto"
        return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": tools}}
    if choice.mode == "tool":
        custom = any(t.kind == "custom" and t.name == choice.name for t in req.tools)
        kind = "custom" if custom else "function"
        return {"type": kind, kind: {"name": renamed(choice.name or "", ctx)}}
    return {"auto": "auto", "any": "required", "none": "none"}[choice.mode]


def render_request(req: Request, ctx: TranslationContext) -> bytes:
    """The Chat Completions body for `req`."""
    body: dict[str, Any] = {"model": req.model, "messages": render_messages(req.messages, ctx)}
    if req.tools:
        body["tools"] = memo_rendered("chat.tools", req.tools, ctx, render_tools)
    if req.tool_choice is not None and (req.tools or req.tool_choice.mode == "none"):
        body["tool_choice"] = render_tool_choice(req.tool_choice, req, ctx)
    if req.parallel_tool_calls is not None and req.tools:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    _render_params(req, body, ctx)
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    kept = SHARED_OPENAI_FIELDS if req.origin == "openai-responses" else frozenset()
    for key in kept & req.extras.keys():
        body[key] = req.extras[key]
    note_dropped_extras(req, ctx, kept)
    return msgspec.json.encode(body)


def _render_params(req: Request, body: dict[str, Any], ctx: TranslationContext) -> None:
    if req.max_tokens is not None:
        body["max_completion_tokens"] = req.max_tokens
    for key in ("temperature", "top_p", "seed", "n"):
        if getattr(req, key) is not None:
            body[key] = getattr(req, key)
    if req.top_k is not None:
        ctx.note("dropped top_k: Chat has no top_k")
    if req.stop:
        body["stop"] = req.stop
    effort = _effort(req.reasoning)
    if effort is not None and req.model.startswith(_NO_REASONING_PREFIXES):
        ctx.note(f"dropped reasoning effort: {req.model} is not a reasoning model")
    elif effort is not None:
        body["reasoning_effort"] = effort
    fmt = req.response_format
    if fmt is not None and fmt.kind == "json_schema":
        js: dict[str, Any] = {"name": fmt.name or "response"}
        if fmt.description:
            js["description"] = fmt.description
        if fmt.schema is not None:
            js["schema"] = from_raw(fmt.schema)
        if fmt.strict is not None:
            js["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": js}
    elif fmt is not None:
        body["response_format"] = {"type": fmt.kind}
    if req.user:
        if len(req.user) <= 64:
            body["user"] = req.user
        else:
            ctx.note("dropped the user id: longer than OpenAI's 64 characters")
    if req.metadata and req.origin != "anthropic":
        body["metadata"] = req.metadata
    if req.cache is not None:
        ctx.note("top-level cache_control not carried (Chat marks parts, not requests)")


def _effort(r: Reasoning | None) -> str | None:
    """reasoning_effort from effort, or from an Anthropic/Gemini budget."""
    if r is None or r.mode == "disabled":
        return None
    if r.effort:
        return r.effort
    if r.budget_tokens is None:
        return None
    if r.budget_tokens <= 0:
        return "none" if r.budget_tokens == 0 else None
    return "low" if r.budget_tokens <= 2048 else "medium" if r.budget_tokens <= 8192 else "high"
