"""IR request → Anthropic Messages request body (for an Anthropic upstream).

Rules (protocols.md §3.1-§3.3, §3.8-§3.10, pitfalls 5, 10, 14-16): leading instructions go to
`system`; later ones become `<system-reminder>` user text; tool and user messages merge into one
user message whose `tool_result` blocks come first; ids not matching `^[a-zA-Z0-9_-]+$` are
mapped deterministically; only Anthropic-made thinking is replayed; thinking is switched off
(with a note) when the tool loop's assistant turn has no thinking block to replay, and
temperature/top_k are dropped while thinking is on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.transform import TranslationContext, TranslationError
from cal.transform.anthropic_request import DEFAULT_MAX_TOKENS
from cal.transform.anthropic_thinking import rejects_sampling, render_thinking
from cal.transform.common import (
    CUSTOM_TOOL_SCHEMA,
    from_raw,
    memo_rendered,
    note_dropped_extras,
    obj,
    renamed,
    upstream_tool_name,
    wrap_custom_input,
)
from cal.transform.ir import (
    CacheMark,
    File,
    Image,
    Message,
    Opaque,
    Part,
    Refusal,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    arguments_object,
    leading_instructions,
    safe_tool_id,
)

_DROP_TTL = {"30m": None, "12h": "1h"}


def cache_json(mark: CacheMark | None) -> dict[str, Any] | None:
    """A CacheMark as `cache_control` (OpenAI TTLs mapped: 30m → default 5m, 12h → 1h)."""
    if mark is None:
        return None
    ttl = _DROP_TTL.get(mark.ttl, mark.ttl) if mark.ttl else None
    return {"type": "ephemeral", "ttl": ttl} if ttl in ("5m", "1h") else {"type": "ephemeral"}


def _with_cache(block: dict[str, Any], mark: CacheMark | None) -> dict[str, Any]:
    cc = cache_json(mark)
    if cc is not None:
        block["cache_control"] = cc
    return block


def image_json(part: Image, ctx: TranslationContext) -> dict[str, Any] | None:
    """An image block, or None (noted) when it has no source Anthropic accepts."""
    if part.data is not None:
        src = {"type": "base64", "media_type": part.media_type or "image/png", "data": part.data}
    elif part.url is not None:
        src = {"type": "url", "url": part.url}
    elif part.file_id is not None:
        src = {"type": "file", "file_id": part.file_id}
    else:
        ctx.note("dropped an image without data or URL")
        return None
    return _with_cache({"type": "image", "source": src}, part.cache)


def file_json(part: File, ctx: TranslationContext) -> dict[str, Any] | None:
    """A document block (PDF base64/URL, plain text, file id)."""
    if part.text is not None:
        src: dict[str, Any] = {"type": "text", "media_type": "text/plain", "data": part.text}
    elif part.data is not None:
        src = {"type": "base64", "media_type": part.media_type or "application/pdf"}
        src["data"] = part.data
    elif part.url is not None:
        src = {"type": "url", "url": part.url}
    elif part.file_id is not None:
        src = {"type": "file", "file_id": part.file_id}
    else:
        ctx.note("dropped a file without content")
        return None
    block: dict[str, Any] = {"type": "document", "source": src}
    if part.title or part.filename:
        block["title"] = part.title or part.filename
    return _with_cache(block, part.cache)


def tool_call_json(part: ToolCall, ctx: TranslationContext) -> dict[str, Any]:
    """A tool_use block (custom tools wrapped as `{"input": …}`; bad arguments → `{}`)."""
    name = upstream_tool_name(
        part.name, part.namespace, part.kind, ctx, custom_native=False, strict_chars=True
    )
    args = wrap_custom_input(part.arguments) if part.kind == "custom" else part.arguments
    obj = arguments_object(args)
    if obj is None:
        ctx.note(f"tool call {part.id}: arguments are not a JSON object, sent as {{}}")
        obj = msgspec.Raw(b"{}")
    block = {"type": "tool_use", "id": safe_tool_id(part.id), "name": name, "input": obj}
    return _with_cache(block, part.cache)


def tool_result_json(part: ToolResult, ctx: TranslationContext) -> dict[str, Any]:
    """A tool_result block with text, image and document content."""
    content: list[Any] = []
    for p in part.content:
        block = _block(p, ctx)
        if block is not None:
            content.append(block)
    out: dict[str, Any] = {"type": "tool_result", "tool_use_id": safe_tool_id(part.call_id)}
    if content:
        only_text = len(content) == 1 and content[0].get("type") == "text"
        plain = only_text and "cache_control" not in content[0]
        out["content"] = content[0]["text"] if plain else content
    if part.is_error:
        out["is_error"] = True
    return _with_cache(out, part.cache)


def thinking_json(part: Thinking, ctx: TranslationContext) -> dict[str, Any] | None:
    """Anthropic-made thinking, exactly as it came; other reasoning is dropped (noted)."""
    if part.origin != "anthropic" or part.signature is None:
        ctx.note("dropped reasoning made by another provider (its blob is not valid here)")
        return None
    if part.redacted:
        return {"type": "redacted_thinking", "data": part.signature}
    return {"type": "thinking", "thinking": part.text, "signature": part.signature}


def _block(part: Part, ctx: TranslationContext) -> dict[str, Any] | None:
    if isinstance(part, Text):
        if not part.text:
            return None  # Anthropic rejects empty text blocks
        return _with_cache({"type": "text", "text": part.text}, part.cache)
    if isinstance(part, Image):
        return image_json(part, ctx)
    if isinstance(part, File):
        return file_json(part, ctx)
    if isinstance(part, ToolCall):
        return tool_call_json(part, ctx)
    if isinstance(part, ToolResult):
        return tool_result_json(part, ctx)
    if isinstance(part, Thinking):
        return thinking_json(part, ctx)
    if isinstance(part, Refusal):
        return {"type": "text", "text": part.text}
    if isinstance(part, Opaque) and part.origin == "anthropic":
        return msgspec.json.decode(part.data)  # type: ignore[no-any-return]
    ctx.note(f"dropped a {part.origin} {part.kind!r} block: no Anthropic equivalent")
    return None


def _blocks(parts: list[Part], ctx: TranslationContext) -> list[dict[str, Any]]:
    return [b for b in (_block(p, ctx) for p in parts) if b is not None]


def _reminder(msg: Message, ctx: TranslationContext) -> Message:
    """A mid-conversation instruction as `<system-reminder>` user text (position kept)."""
    ctx.note(f"a mid-conversation {msg.role} message was sent as <system-reminder> user text")
    text = "".join(p.text for p in msg.content if isinstance(p, Text))
    return Message(
        role="user", content=[Text(text=f"<system-reminder>\n{text}\n</system-reminder>")]
    )


def render_messages(messages: list[Message], ctx: TranslationContext) -> list[dict[str, Any]]:
    """Non-instruction messages as Anthropic messages (user/tool runs merged, results first)."""
    out: list[dict[str, Any]] = []
    pending_role: str | None = None
    pending: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role in ("system", "developer"):
            msg = _reminder(msg, ctx)
        for key in msg.extras:
            ctx.note(f"dropped per-message field {key!r}")
        role = "assistant" if msg.role == "assistant" else "user"
        blocks = _blocks(msg.content, ctx)
        if not blocks:
            ctx.note(f"dropped an empty {msg.role} message (Anthropic rejects empty content)")
            continue
        if role != pending_role and pending:
            out.append({"role": pending_role, "content": _order(pending)})
            pending = []
        pending_role = role
        pending += blocks
    if pending:
        out.append({"role": pending_role, "content": _order(pending)})
    if not out or out[0]["role"] != "user":
        ctx.note("a user turn was added first (Anthropic requires the first message from the user)")
        out.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    return out


def _order(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """tool_result blocks first (Anthropic requires them to open the user message)."""
    results = [b for b in blocks if b.get("type") == "tool_result"]
    if not results:
        return blocks
    return results + [b for b in blocks if b.get("type") != "tool_result"]


def render_system(instructions: list[Message], ctx: TranslationContext) -> list[dict[str, Any]]:
    """Leading system/developer messages as `system` text blocks."""
    blocks: list[dict[str, Any]] = []
    for msg in instructions:
        for p in msg.content:
            if isinstance(p, Text):
                blocks.append(_with_cache({"type": "text", "text": p.text}, p.cache))
            else:
                ctx.note("dropped a non-text part of the system instructions")
        for key in msg.extras:
            ctx.note(f"dropped per-message field {key!r}")
    return blocks


def custom_description(tool: Tool) -> str | None:
    """A freeform tool's description, with its grammar appended (the stand-in function's only
    way to tell the model what `input` must look like)."""
    fmt = from_raw(tool.format)
    if not isinstance(fmt, dict) or fmt.get("type") != "grammar":
        return tool.description
    grammar = obj(fmt.get("grammar")) or fmt
    syntax, definition = grammar.get("syntax"), grammar.get("definition")
    if not isinstance(definition, str):
        return tool.description
    head = f"{tool.description}\n\n" if tool.description else ""
    return f"{head}The `input` string must match this {syntax or 'grammar'} grammar:\n{definition}"


def render_tools(tools: list[Tool], ctx: TranslationContext) -> list[dict[str, Any]]:
    """Tool definitions (freeform tools exposed as one `input` string property)."""
    out: list[dict[str, Any]] = []
    for t in tools:
        name = upstream_tool_name(
            t.name, t.namespace, t.kind, ctx, custom_native=False, strict_chars=True
        )
        schema = CUSTOM_TOOL_SCHEMA if t.kind == "custom" else t.parameters
        tool: dict[str, Any] = {"name": name}
        description = custom_description(t) if t.kind == "custom" else t.description
        if description:
            tool["description"] = description
        tool["input_schema"] = schema or {"type": "object", "properties": {}}
        if t.strict:
            tool["strict"] = True
        out.append(_with_cache(tool, t.cache))
    return out


def render_tool_choice(
    choice: ToolChoice | None, parallel: bool | None, ctx: TranslationContext
) -> dict[str, Any] | None:
    """tool_choice (+ disable_parallel_tool_use)."""
    out: dict[str, Any] | None = None
    if choice is not None:
        if choice.allowed:
            ctx.note("allowed-tools subset not carried (Anthropic has no form for it)")
        out = {"type": choice.mode}
        if choice.mode == "tool":
            out["name"] = renamed(choice.name or "", ctx)
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def render_request(req: Request, ctx: TranslationContext) -> bytes:
    """The Anthropic Messages body for `req` (model = `req.model`, set by the route)."""
    if req.n is not None and req.n > 1:
        raise TranslationError("n > 1 is not supported by an Anthropic upstream")
    instructions, rest = leading_instructions(req.messages)
    body: dict[str, Any] = {"model": req.model}
    if req.max_tokens is None:
        ctx.note(f"max_tokens defaulted to {DEFAULT_MAX_TOKENS} (Anthropic requires it)")
    body["max_tokens"] = req.max_tokens or DEFAULT_MAX_TOKENS
    system = render_system(instructions, ctx)
    if system:
        body["system"] = system
    body["messages"] = render_messages(rest, ctx)
    _render_params(req, body, ctx)
    render_thinking(req, body, ctx)
    if rejects_sampling(req.model):
        for key in ("temperature", "top_p", "top_k"):
            if body.pop(key, None) is not None:
                ctx.note(f"dropped {key}: {req.model} rejects sampling parameters")
    if req.stream:
        body["stream"] = True
    note_dropped_extras(req, ctx, frozenset())
    return msgspec.json.encode(body)


def _render_params(req: Request, body: dict[str, Any], ctx: TranslationContext) -> None:
    if req.tools:
        body["tools"] = memo_rendered("anthropic.tools", req.tools, ctx, render_tools)
    choice = render_tool_choice(req.tool_choice, req.parallel_tool_calls, ctx)
    if choice is not None and (req.tools or choice["type"] == "none"):
        body["tool_choice"] = choice
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.temperature is not None:
        body["temperature"] = min(req.temperature, 1.0)
        if req.temperature > 1.0:
            ctx.note("temperature clamped to 1.0 (Anthropic's maximum)")
    if req.top_p is not None:
        if req.temperature is not None:
            ctx.note("dropped top_p: Anthropic accepts temperature or top_p, not both")
        else:
            body["top_p"] = req.top_p
    if req.top_k is not None:
        body["top_k"] = req.top_k
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.metadata:
        ctx.note("dropped metadata (Anthropic keeps only a user id)")
    if req.seed is not None:
        ctx.note("dropped seed: no Anthropic equivalent")
    fmt = req.response_format
    if fmt is not None and fmt.kind == "json_schema" and fmt.schema is not None:
        body["output_config"] = {"format": {"type": "json_schema", "schema": from_raw(fmt.schema)}}
    elif fmt is not None and fmt.kind == "json_object":
        ctx.note("dropped response_format json_object: Anthropic has no JSON mode")
