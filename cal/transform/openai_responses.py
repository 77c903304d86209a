"""The OpenAI Responses codec: `/v1/responses` bodies and streams ⇄ IR (protocols.md §1.3, §2.3).

Requests are parsed in `openai_responses_request`, streams in `openai_responses_stream`; this
module renders requests for a Responses upstream, parses and renders non-stream responses, reads
upstream errors and exposes `CODEC`.

Rules: the upstream gets `store: false` (cal is stateless, the client resends history) and, when
reasoning is on, `include: ["reasoning.encrypted_content"]` so reasoning survives the next turn;
a reasoning blob goes upstream only when OpenAI produced it. A client sees other providers'
reasoning blobs sealed in `encrypted_content` (protocols.md §3.8).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats import ApiFormat
from cal.formats.errors import ErrorKind, kind_for_status
from cal.transform import Codec, TranslationContext, TranslationError
from cal.transform.common import obj
from cal.transform.ir import (
    File,
    Image,
    Message,
    Opaque,
    Part,
    Request,
    Response,
    StopReason,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from cal.transform.openai_responses_items import (
    load,
    output_items,
    parse_output,
    parse_usage,
    response_object,
    response_status,
    usage_json,
)
from cal.transform.openai_responses_request import decode_object, parse_request
from cal.transform.openai_responses_stream import ResponsesStreamParser
from cal.transform.openai_responses_stream_render import ResponsesStreamRenderer

_ORIGIN: ApiFormat = "openai-responses"
_TTL = {"5m": "30m", "1h": "12h", "30m": "30m", "12h": "12h"}
_PASSED_EXTRAS = frozenset(
    {
        "prompt_cache_key",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "truncation",
        "top_logprobs",
        "max_tool_calls",
        "include",
        "client_metadata",
        "prompt_cache_options",
        "context_management",
    }
)
"""Top-level fields of OpenAI-family clients a Responses upstream takes as they are."""


# ---------------------------------------------------------------- render: input items


def _cache(part: Text | Image | File, out: dict[str, Any]) -> dict[str, Any]:
    if part.cache is not None:
        mark: dict[str, Any] = {"mode": "explicit"}
        if part.cache.ttl:
            mark["ttl"] = _TTL.get(part.cache.ttl, "30m")
        out["prompt_cache_breakpoint"] = mark
    return out


def _input_part(part: Part, ctx: TranslationContext) -> dict[str, Any] | None:
    if isinstance(part, Text):
        return _cache(part, {"type": "input_text", "text": part.text})
    if isinstance(part, Image):
        out: dict[str, Any] = {"type": "input_image", "detail": part.detail or "auto"}
        if part.data is not None:
            out["image_url"] = f"data:{part.media_type or 'image/png'};base64,{part.data}"
        elif part.url is not None:
            out["image_url"] = part.url
        elif part.file_id is not None:
            out["file_id"] = part.file_id
        return _cache(part, out)
    if isinstance(part, File):
        return _cache(part, _input_file(part))
    ctx.note(f"responses upstream: dropped a {type(part).__name__} part in an input message")
    return None


def _input_file(part: File) -> dict[str, Any]:
    if part.text is not None:
        return {"type": "input_text", "text": part.text}
    out: dict[str, Any] = {"type": "input_file"}
    if part.data is not None:
        out["file_data"] = f"data:{part.media_type or 'application/pdf'};base64,{part.data}"
    elif part.url is not None:
        out["file_url"] = part.url
    elif part.file_id is not None:
        out["file_id"] = part.file_id
    if part.filename or part.title:
        out["filename"] = part.filename or part.title
    return out


def _assistant_items(msg: Message, ctx: TranslationContext) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []

    def flush() -> None:
        """Close the pending output_text parts into one assistant message item."""
        if texts:
            items.append({"type": "message", "role": "assistant", "content": list(texts)})
            texts.clear()

    for part in msg.content:
        if isinstance(part, Text):
            texts.append({"type": "output_text", "text": part.text, "annotations": []})
        elif isinstance(part, ToolCall):
            flush()
            items.append(_call_item(part))
        elif isinstance(part, Thinking):
            flush()
            items += _reasoning_item(part, ctx)
        elif isinstance(part, Opaque) and part.origin == _ORIGIN:
            flush()
            items.append(load(part.data))
        else:
            ctx.note(f"responses upstream: dropped a {type(part).__name__} in an assistant turn")
    flush()
    return items


def _call_item(call: ToolCall) -> dict[str, Any]:
    if call.kind == "custom":
        out = {"type": "custom_tool_call", "call_id": call.id, "name": call.name}
        out["input"] = call.arguments
    else:
        out = {"type": "function_call", "call_id": call.id, "name": call.name}
        out["arguments"] = call.arguments or "{}"
    if call.namespace:
        out["namespace"] = call.namespace
    return out


def _reasoning_item(block: Thinking, ctx: TranslationContext) -> list[dict[str, Any]]:
    if block.origin != _ORIGIN or not block.signature:
        ctx.note("responses upstream: dropped reasoning produced by another provider")
        return []
    summary = block.summary if block.summary is not None else [block.text] if block.text else []
    out: dict[str, Any] = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in summary],
        "encrypted_content": block.signature,
    }
    if block.item_id:
        out["id"] = block.item_id
    return [out]


def _output_items(msg: Message, ctx: TranslationContext) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for part in msg.content:
        if not isinstance(part, ToolResult):
            ctx.note("responses upstream: dropped a non-result part in a tool message")
            continue
        parts = [p for p in (_input_part(c, ctx) for c in part.content) if p is not None]
        output: Any = parts
        if all(p.get("type") == "input_text" for p in parts):
            output = "".join(str(p["text"]) for p in parts)
        if part.is_error:
            ctx.note("responses upstream: tool error flag not carried (the output text is)")
        kind = "custom_tool_call_output" if part.kind == "custom" else "function_call_output"
        items.append({"type": kind, "call_id": part.call_id, "output": output})
    return items


def _input(messages: list[Message], ctx: TranslationContext) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for msg in messages:
        if msg.role == "assistant":
            items += _assistant_items(msg, ctx)
        elif msg.role == "tool":
            items += _output_items(msg, ctx)
        else:
            parts = [p for p in (_input_part(c, ctx) for c in msg.content) if p is not None]
            items.append({"type": "message", "role": msg.role, "content": parts})
    return items


# ---------------------------------------------------------------- render: settings


def _tools(tools: list[Tool]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    spaces: dict[str, list[dict[str, Any]]] = {}
    for tool in tools:
        spec: dict[str, Any] = {"type": tool.kind, "name": tool.name}
        if tool.description is not None:
            spec["description"] = tool.description
        if tool.kind == "function":
            params = load(tool.parameters) if tool.parameters is not None else None
            spec["parameters"] = params or {"type": "object", "properties": {}}
            spec["strict"] = bool(tool.strict)
        elif tool.format is not None:
            spec["format"] = load(tool.format)
        if tool.namespace:
            if tool.namespace not in spaces:
                spaces[tool.namespace] = []
                out.append({"type": "namespace", "name": tool.namespace, "description": ""})
                out[-1]["tools"] = spaces[tool.namespace]
            spaces[tool.namespace].append(spec)
        else:
            out.append(spec)
    return out


def _tool_choice(choice: ToolChoice, tools: list[Tool]) -> Any:
    if choice.allowed is not None:
        kinds = {t.name: t.kind for t in tools}
        return {
            "type": "allowed_tools",
            "mode": "required" if choice.mode == "any" else "auto",
            "tools": [{"type": kinds.get(n, "function"), "name": n} for n in choice.allowed],
        }
    if choice.mode == "tool":
        kind = next((t.kind for t in tools if t.name == choice.name), "function")
        return {"type": kind, "name": choice.name}
    return {"auto": "auto", "any": "required", "none": "none"}[choice.mode]


def _reasoning(req: Request, body: dict[str, Any]) -> None:
    spec = req.reasoning
    if spec is None or spec.mode == "disabled":
        return
    effort = spec.effort
    if effort is None and spec.budget_tokens is not None:
        budget = spec.budget_tokens
        effort = "low" if budget <= 2048 else "medium" if budget <= 16384 else "high"
    out: dict[str, Any] = {}
    if effort is not None:
        out["effort"] = "xhigh" if effort == "max" else effort
    if spec.summary or spec.include_thoughts or spec.mode in ("enabled", "adaptive"):
        out["summary"] = spec.summary or "auto"
    body["reasoning"] = out
    body["include"] = ["reasoning.encrypted_content"]


def _unsupported(req: Request, ctx: TranslationContext) -> None:
    if req.n is not None and req.n > 1:
        raise TranslationError("n > 1 cannot be served by an OpenAI Responses upstream")
    for name in ("top_k", "seed"):
        if getattr(req, name) is not None:
            ctx.note(f"responses upstream: dropped {name} (no such parameter)")
    if req.stop:
        ctx.note("responses upstream: dropped stop sequences (no such parameter)")


def _settings(req: Request, body: dict[str, Any], ctx: TranslationContext) -> None:
    if req.user is not None and len(req.user) > 64:
        ctx.note("responses upstream: dropped user (longer than 64 characters)")
    if req.metadata and req.origin not in ("openai-chat", _ORIGIN):
        ctx.note(f"responses upstream: dropped {req.origin} metadata")
    for key, value in (
        ("max_output_tokens", req.max_tokens),
        ("temperature", req.temperature),
        ("top_p", req.top_p),
        ("parallel_tool_calls", req.parallel_tool_calls),
        ("user", req.user if req.user is None or len(req.user) <= 64 else None),
        ("metadata", req.metadata if req.origin in ("openai-chat", _ORIGIN) else None),
    ):
        if value is not None:
            body[key] = value
    fmt = req.response_format
    text: dict[str, Any] = {}
    if fmt is not None:
        text["format"] = {"type": fmt.kind}
        if fmt.kind == "json_schema":
            text["format"]["name"] = fmt.name or "response"
            text["format"]["schema"] = load(fmt.schema) if fmt.schema is not None else {}
            if fmt.strict is not None:
                text["format"]["strict"] = fmt.strict
    for key, extra in req.extras.items():
        if key == "verbosity":
            text["verbosity"] = load(extra)
        elif key in _PASSED_EXTRAS and req.origin in ("openai-chat", _ORIGIN):
            body[key] = load(extra)
        elif key != "store":
            ctx.note(f"responses upstream: dropped field {key!r}")
    if text:
        body["text"] = text


def render_request(req: Request, ctx: TranslationContext) -> bytes:
    """IR request → Responses upstream body (stateless: `store: false`)."""
    _unsupported(req, ctx)
    body: dict[str, Any] = {"model": ctx.upstream_model, "input": _input(req.messages, ctx)}
    if req.tools:
        body["tools"] = _tools(req.tools)
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice, req.tools)
    _settings(req, body, ctx)
    _reasoning(req, body)
    body["store"] = False
    body["stream"] = req.stream
    return msgspec.json.encode(body)


# ---------------------------------------------------------------- responses


def stop_reason_of(doc: dict[str, Any], content: list[Part]) -> StopReason:
    """The IR stop reason of a finished Responses `response` object."""
    if doc.get("status") == "incomplete":
        reason = obj(doc.get("incomplete_details")).get("reason")
        return "refusal" if reason == "content_filter" else "max_tokens"
    if any(isinstance(p, ToolCall) for p in content):
        return "tool_use"
    return "end_turn"


def parse_response(body: bytes, ctx: TranslationContext) -> Response:
    """A Responses upstream body → IR response (a `failed` status is an upstream error)."""
    doc = decode_object(body)
    if doc.get("status") == "failed":
        error = obj(doc.get("error"))
        raise TranslationError(f"upstream response failed: {error.get('message', '')}", 502)
    content = parse_output(doc.get("output"), ctx)
    return Response(
        id=str(doc.get("id", "")),
        model=str(doc.get("model", "")),
        content=content,
        stop_reason=stop_reason_of(doc, content),
        usage=parse_usage(doc.get("usage")),
        created=doc.get("created_at"),
    )


def render_response(resp: Response, ctx: TranslationContext) -> bytes:
    """IR response → Responses client body."""
    status, details = response_status(resp.stop_reason)
    doc = response_object(ctx.make_id("resp_"), ctx, status, output_items(resp.content, ctx))
    doc["incomplete_details"] = details
    doc["usage"] = usage_json(resp.usage)
    return msgspec.json.encode(doc)


def parse_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """An OpenAI error body → (kind, message); never raises."""
    kind = kind_for_status(status)
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return kind, body.decode("utf-8", "replace")[:500] or f"upstream status {status}"
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return kind, f"upstream status {status}"
    if status == 429 and error.get("code") == "insufficient_quota":
        kind = "rate_limit"
    return kind, str(error.get("message") or f"upstream status {status}")


CODEC = Codec(
    format=_ORIGIN,
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    stream_parser=ResponsesStreamParser,
    stream_renderer=ResponsesStreamRenderer,
    parse_error=parse_error,
)
