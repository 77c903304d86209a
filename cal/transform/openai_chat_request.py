"""OpenAI Chat Completions request body → IR request (protocols.md §1.2, §3.1-§3.3, §3.9).

System/developer messages stay in place; consecutive `tool` messages become one tool message;
`image_url` data URLs become base64 images; `prompt_cache_breakpoint` becomes a cache mark;
non-standard `reasoning_content` on assistant turns is kept as Chat-origin reasoning; unknown
top-level fields go to `extras`; `stream_options.include_usage` is remembered in the context.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.transform import TranslationContext, TranslationError
from cal.transform.common import (
    arr,
    decode_object,
    obj,
    ok_float,
    ok_int,
    ok_str,
    parse_data_url,
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
    Refusal,
    Request,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)

_KNOWN = frozenset(
    {
        "model",
        "messages",
        "max_completion_tokens",
        "max_tokens",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "n",
        "stop",
        "seed",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "reasoning_effort",
        "user",
        "safety_identifier",
        "metadata",
    }
)


def _cache(part: dict[str, Any]) -> CacheMark | None:
    mark = part.get("prompt_cache_breakpoint")
    return CacheMark(ttl=ok_str(mark.get("ttl"))) if isinstance(mark, dict) else None


def parse_part(part: Any, ctx: TranslationContext) -> Part:
    """One content part of a user/system/assistant/tool message."""
    if isinstance(part, str):
        return Text(text=part)
    p = obj(part)
    kind = p.get("type")
    if kind == "text":
        return Text(text=ok_str(p.get("text")) or "", cache=_cache(p))
    if kind == "refusal":
        return Refusal(text=ok_str(p.get("refusal")) or "")
    if kind == "image_url":
        img = obj(p.get("image_url"))
        url = ok_str(img.get("url")) or ""
        parsed = parse_data_url(url)
        detail = ok_str(img.get("detail"))
        if parsed is not None:
            return Image(media_type=parsed[0], data=parsed[1], detail=detail, cache=_cache(p))
        return Image(url=url, detail=detail, cache=_cache(p))
    if kind == "file":
        f = obj(p.get("file"))
        parsed = parse_data_url(ok_str(f.get("file_data")) or "")
        return File(
            media_type=parsed[0] if parsed else None,
            data=parsed[1] if parsed else None,
            file_id=ok_str(f.get("file_id")),
            filename=ok_str(f.get("filename")),
            cache=_cache(p),
        )
    return Opaque(origin="openai-chat", kind=str(kind), data=raw(part))


def _parts(content: Any, ctx: TranslationContext) -> list[Part]:
    if isinstance(content, str):
        return [Text(text=content)]
    return [parse_part(p, ctx) for p in arr(content)]


def parse_tool_call(tc: Any) -> ToolCall:
    """An assistant tool call (function or custom); arguments kept verbatim."""
    t = obj(tc)
    if t.get("type") == "custom":
        c = obj(t.get("custom"))
        name, args = ok_str(c.get("name")) or "", ok_str(c.get("input")) or ""
        return ToolCall(id=ok_str(t.get("id")) or "", name=name, arguments=args, kind="custom")
    f = obj(t.get("function"))
    given = f.get("arguments")
    text = given if isinstance(given, str) else msgspec.json.encode(given or {}).decode()
    return ToolCall(id=ok_str(t.get("id")) or "", name=ok_str(f.get("name")) or "", arguments=text)


def parse_message(m: Any, ctx: TranslationContext) -> Message | None:
    """One Chat message (None for legacy `function` messages, noted)."""
    m = obj(m)
    role = m.get("role")
    name = ok_str(m.get("name"))
    if role in ("system", "developer", "user"):
        return Message(role=role, content=_parts(m.get("content"), ctx), name=name)
    if role == "assistant":
        parts: list[Part] = []
        reasoning = ok_str(m.get("reasoning_content")) or ok_str(m.get("reasoning"))
        if reasoning:
            parts.append(Thinking(text=reasoning, origin="openai-chat"))
        if m.get("content") is not None:
            parts += _parts(m.get("content"), ctx)
        if ok_str(m.get("refusal")):
            parts.append(Refusal(text=m["refusal"]))
        parts += [parse_tool_call(tc) for tc in arr(m.get("tool_calls"))]
        if m.get("function_call"):
            ctx.note("legacy function_call on an assistant message is not carried")
        return Message(role="assistant", content=parts, name=name)
    if role == "tool":
        content = [p for p in _parts(m.get("content"), ctx) if isinstance(p, Text | Image | File)]
        result = ToolResult(call_id=ok_str(m.get("tool_call_id")) or "", content=content)
        return Message(role="tool", content=[result])
    ctx.note(f"dropped a {role!r} message (legacy or unknown role)")
    return None


def parse_messages(items: Any, ctx: TranslationContext) -> list[Message]:
    """All messages; consecutive tool messages merge into one IR tool message."""
    out: list[Message] = []
    for item in arr(items):
        msg = parse_message(item, ctx)
        if msg is None:
            continue
        if msg.role == "tool" and out and out[-1].role == "tool":
            out[-1].content += msg.content
        else:
            out.append(msg)
    return out


def parse_tools(tools: Any, ctx: TranslationContext) -> list[Tool]:
    """Function and custom tools."""
    out: list[Tool] = []
    for t in arr(tools):
        t = obj(t)
        if t.get("type") == "custom":
            c = obj(t.get("custom"))
            fmt = c.get("format")
            out.append(
                Tool(
                    name=ok_str(c.get("name")) or "",
                    description=ok_str(c.get("description")),
                    kind="custom",
                    format=raw(fmt) if fmt is not None else None,
                )
            )
            continue
        f = obj(t.get("function"))
        params = f.get("parameters")
        strict = f.get("strict")
        out.append(
            Tool(
                name=ok_str(f.get("name")) or "",
                description=ok_str(f.get("description")),
                parameters=raw(params) if params is not None else None,
                strict=strict if isinstance(strict, bool) else None,
            )
        )
    return out


def parse_tool_choice(tc: Any) -> ToolChoice | None:
    """none/auto/required, a named function/custom tool, or allowed_tools."""
    if tc in ("none", "auto"):
        return ToolChoice(mode=tc)
    if tc == "required":
        return ToolChoice(mode="any")
    t = obj(tc)
    if t.get("type") in ("function", "custom"):
        return ToolChoice(mode="tool", name=ok_str(obj(t.get(t["type"])).get("name")))
    if t.get("type") == "allowed_tools":
        a = obj(t.get("allowed_tools"))
        names = [ok_str(obj(x.get(x.get("type"))).get("name")) or "" for x in arr(a.get("tools"))]
        return ToolChoice(mode="any" if a.get("mode") == "required" else "auto", allowed=names)
    return None


def parse_response_format(rf: Any) -> ResponseFormat | None:
    """`response_format`."""
    r = obj(rf)
    if r.get("type") == "json_schema":
        js = obj(r.get("json_schema"))
        strict = js.get("strict")
        return ResponseFormat(
            kind="json_schema",
            schema=raw(js["schema"]) if "schema" in js else None,
            name=ok_str(js.get("name")),
            strict=strict if isinstance(strict, bool) else None,
            description=ok_str(js.get("description")),
        )
    if r.get("type") in ("json_object", "text"):
        return ResponseFormat(kind=r["type"])
    return None


def parse_request(body: bytes, ctx: TranslationContext) -> Request:
    """A Chat Completions request body as an IR request."""
    d = decode_object(body)
    if not isinstance(d.get("messages"), list):
        raise TranslationError("messages: an array is required")
    stop = d.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in arr(stop) if isinstance(s, str)]
    effort = ok_str(d.get("reasoning_effort"))
    metadata = {k: v for k, v in obj(d.get("metadata")).items() if isinstance(v, str)}
    ctx.include_usage = obj(d.get("stream_options")).get("include_usage") is True
    max_tokens = ok_int(d.get("max_completion_tokens"))
    return Request(
        origin="openai-chat",
        model=ok_str(d.get("model")) or "",
        messages=parse_messages(d["messages"], ctx),
        tools=parse_tools(d.get("tools"), ctx),
        tool_choice=parse_tool_choice(d.get("tool_choice")),
        parallel_tool_calls=d.get("parallel_tool_calls")
        if isinstance(d.get("parallel_tool_calls"), bool)
        else None,
        max_tokens=max_tokens if max_tokens is not None else ok_int(d.get("max_tokens")),
        temperature=ok_float(d.get("temperature")),
        top_p=ok_float(d.get("top_p")),
        stop=stops or None,
        seed=ok_int(d.get("seed")),
        n=ok_int(d.get("n")),
        reasoning=Reasoning(effort=effort) if effort else None,
        response_format=parse_response_format(d.get("response_format")),
        user=ok_str(d.get("safety_identifier")) or ok_str(d.get("user")),
        metadata=metadata or None,
        stream=d.get("stream") is True,
        include_usage=ctx.include_usage,
        extras={k: raw(v) for k, v in d.items() if k not in _KNOWN},
    )
