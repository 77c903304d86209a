"""OpenAI Responses requests ⇄ IR (protocols.md §1.3, §3).

Parsing keeps every input item in order: `message` items by role, `function_call`/
`custom_tool_call` and `reasoning` items in the assistant turn they belong to, outputs in `tool`
messages. Codex's `additional_tools` item and `namespace` tools become IR tools with their
namespace (the upstream renderer flattens them). Reasoning blobs wrapped by another codec
(`gw1.` envelopes) are unsealed back to their origin. State held by OpenAI
(`previous_response_id`, `conversation`, `item_reference`) cannot be served statelessly: 400.

Rendering builds `input` items from IR messages and never sends a reasoning blob another provider
produced (protocols.md §3.8).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats import ApiFormat
from cal.transform import TranslationContext, TranslationError
from cal.transform.common import (
    ItemFields,
    arr,
    canonical,
    load,
    ok_bool,
    ok_float,
    ok_int,
    ok_str,
    parse_fields,
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
    Tool,
    ToolChoice,
    ToolResult,
)
from cal.transform.openai_responses_items import parse_call, parse_reasoning, raw
from cal.transform.openai_responses_tools import ITEMS, InputItem, memo_tools

_ORIGIN: ApiFormat = "openai-responses"
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
_HANDLED_KEYS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "stream",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "reasoning",
        "text",
        "user",
        "metadata",
        "previous_response_id",
        "conversation",
        "type",  # "response.create" on a WebSocket frame
    }
)
_STATEFUL = "is state kept by OpenAI; a stateless upstream cannot serve it (send the full history)"


def decode_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise TranslationError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise TranslationError("request body must be a JSON object")
    return doc


def split_data_url(url: str) -> tuple[str, str] | None:
    """(`media_type`, base64 data) of a `data:<mt>;base64,<d>` URL, else None."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


# ---------------------------------------------------------------- parse: parts


def _cache_of(part: dict[str, Any]) -> CacheMark | None:
    mark = part.get("prompt_cache_breakpoint")
    if not isinstance(mark, dict):
        return None
    ttl = mark.get("ttl")
    return CacheMark(ttl=ttl if isinstance(ttl, str) else None)


def _image(part: dict[str, Any]) -> Image:
    url = part.get("image_url")
    image = Image(
        file_id=ok_str(part.get("file_id")),
        detail=ok_str(part.get("detail")),
        cache=_cache_of(part),
    )
    if isinstance(url, str):
        split = split_data_url(url)
        if split:
            image.media_type, image.data = split
        else:
            image.url = url
    return image


def _file(part: dict[str, Any]) -> File:
    doc = File(
        file_id=ok_str(part.get("file_id")),
        url=ok_str(part.get("file_url")),
        filename=ok_str(part.get("filename")),
        cache=_cache_of(part),
    )
    data = part.get("file_data")
    if isinstance(data, str):
        split = split_data_url(data)
        doc.media_type, doc.data = split if split else ("application/pdf", data)
    return doc


def parse_part(part: Any, ctx: TranslationContext) -> Part:
    """One content part of a message or tool output."""
    if isinstance(part, str):
        return Text(text=part)
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text", "summary_text"):
        return Text(text=str(part.get("text", "")), cache=_cache_of(part))
    if kind == "input_image":
        return _image(part)
    if kind == "input_file":
        return _file(part)
    if kind == "refusal":
        return Refusal(text=str(part.get("refusal", "")))
    ctx.note(f"responses: kept unknown content part {kind!r} as opaque")
    return Opaque(origin=_ORIGIN, kind=str(kind), data=raw(part))


def _parts(content: Any, ctx: TranslationContext) -> list[Part]:
    if isinstance(content, str):
        return [Text(text=content)]
    if isinstance(content, list):
        return [parse_part(p, ctx) for p in content]
    return []


# ---------------------------------------------------------------- parse: items


class _History:
    """Builds IR messages from input items: assistant items and tool outputs of one step join
    one message each; everything else starts its own."""

    def __init__(self, ctx: TranslationContext) -> None:
        self.ctx = ctx
        self.messages: list[Message] = []
        self.tools: list[Tool] = []

    def add(self, role: str, part: Part) -> Message:
        """Append a part; assistant items and tool outputs join the previous turn of their role."""
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role and role in ("assistant", "tool"):
            last.content.append(part)
            return last
        msg = Message(role=role, content=[part])  # type: ignore[arg-type]
        self.messages.append(msg)
        return msg

    def item(self, item: Any) -> None:
        """Read one input item (unknown types kept as opaque; item_reference refused)."""
        if not isinstance(item, dict | InputItem):
            self.ctx.note("responses: skipped an input item that is not an object")
            return
        kind = str(item.get("type", "message"))
        handler = _ITEM_HANDLERS.get(kind)
        if handler is not None:
            handler(self, item)
        elif kind == "item_reference":
            raise TranslationError(f"input item_reference {_STATEFUL}")
        else:
            role = item.get("role")
            self.ctx.note(f"responses: kept unknown input item {kind!r} as opaque")
            self.add(
                role if role in ("user", "assistant") else "assistant",
                Opaque(origin=_ORIGIN, kind=str(kind), data=raw(item)),
            )

    def message(self, item: ItemFields) -> None:
        """A `message` item (assistant parts join the assistant turn; `phase` kept)."""
        role = ok_str(item.get("role", "user"))
        if role not in _MESSAGE_ROLES:
            raise TranslationError(f"unknown message role {role!r}")
        parts = _parts(item.get("content"), self.ctx)
        if role == "assistant":
            msg = None
            for part in parts:
                msg = self.add("assistant", part)
            if msg is not None and "phase" in item:
                msg.extras["phase"] = raw(item["phase"])
            return
        extras = {"id": raw(item["id"])} if "id" in item else {}
        self.messages.append(Message(role=role, content=parts, extras=extras))  # type: ignore[arg-type]

    def call(self, item: ItemFields) -> None:
        """A `function_call` / `custom_tool_call` item."""
        self.add("assistant", parse_call(item))

    def output(self, item: ItemFields) -> None:
        """A `function_call_output` / `custom_tool_call_output` item."""
        output = item.get("output", "")
        self.add(
            "tool",
            ToolResult(
                call_id=str(item.get("call_id", "")),
                content=[p for p in _parts(output, self.ctx) if isinstance(p, Text | Image | File)],
                name=ok_str(item.get("name")),
                kind="custom" if item.get("type") == "custom_tool_call_output" else "function",
            ),
        )

    def reasoning(self, item: ItemFields) -> None:
        """A `reasoning` item (our sealed envelopes opened)."""
        self.add("assistant", parse_reasoning(item))

    def additional_tools(self, item: ItemFields) -> None:
        """Codex's `additional_tools` item: its tools join the request's tools."""
        self.tools += memo_tools(item.get("tools"), self.ctx)


_ITEM_HANDLERS = {
    "message": _History.message,
    "function_call": _History.call,
    "custom_tool_call": _History.call,
    "function_call_output": _History.output,
    "custom_tool_call_output": _History.output,
    "reasoning": _History.reasoning,
    "additional_tools": _History.additional_tools,
}


# ---------------------------------------------------------------- parse: tools and settings


def parse_tool_choice(choice: Any, ctx: TranslationContext) -> ToolChoice | None:
    """Responses `tool_choice` → IR."""
    simple = {"auto": "auto", "required": "any", "none": "none"}
    if choice is None:
        return None
    if isinstance(choice, str) and choice in simple:
        return ToolChoice(mode=simple[choice])  # type: ignore[arg-type]
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("function", "custom"):
        return ToolChoice(mode="tool", name=str(choice.get("name", "")))
    if kind == "allowed_tools":
        names = [str(t.get("name")) for t in arr(choice.get("tools")) if isinstance(t, dict)]
        mode = "any" if choice.get("mode") == "required" else "auto"
        return ToolChoice(mode=mode, allowed=names)  # type: ignore[arg-type]
    ctx.note(f"responses: tool_choice {choice!r} has no equivalent, using auto")
    return ToolChoice(mode="auto")


def _response_format(text: Any) -> ResponseFormat | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        schema = fmt.get("schema")
        return ResponseFormat(
            kind="json_schema",
            schema=raw(schema) if schema is not None else None,
            name=ok_str(fmt.get("name")),
            strict=ok_bool(fmt.get("strict")),
            description=ok_str(fmt.get("description")),
        )
    return ResponseFormat(kind="json_object") if kind == "json_object" else ResponseFormat()


def _reasoning(spec: Any) -> Reasoning | None:
    if not isinstance(spec, dict):
        return None
    summary = ok_str(spec.get("summary")) or ok_str(spec.get("generate_summary"))
    return Reasoning(
        effort=ok_str(spec.get("effort")),
        summary=summary,
        include_thoughts=True if summary else None,
    )


def parse_request(body: bytes, ctx: TranslationContext) -> Request:
    """A Responses client body → IR request.

    Raises:
        TranslationError: the body is not a JSON object, or it relies on OpenAI-held state.
    """
    return parse_fields(body, ctx, lambda fields: _request(fields, ctx))


def _input_items(value: msgspec.Raw | None) -> list[Any]:
    """The input items: typed in one pass when every item is a kind the history reads and has
    only fields `InputItem` knows, else from the generic decode (as before)."""
    if value is None:
        return []
    try:
        items = ITEMS.decode(value)
    except msgspec.ValidationError:
        pass
    else:
        if all(str(item.type) in _ITEM_HANDLERS for item in items):
            return items
    doc = msgspec.json.decode(value)
    return [{"role": "user", "content": doc}] if isinstance(doc, str) else arr(doc)


def _request(f: dict[str, msgspec.Raw], ctx: TranslationContext) -> Request:
    for key in ("previous_response_id", "conversation", "prompt"):
        if load(f, key):
            raise TranslationError(f"{key} {_STATEFUL}")
    load(f, "type")  # read by nobody, but a generic decode would have rejected a bad value
    history = _History(ctx)
    instructions = load(f, "instructions")
    if isinstance(instructions, str) and instructions:
        history.messages.append(Message(role="system", content=[Text(text=instructions)]))
    for item in _input_items(f.get("input")):
        history.item(item)
    extras = {k: canonical(v) for k, v in f.items() if k not in _HANDLED_KEYS and k != "stream"}
    text = load(f, "text")
    if isinstance(text, dict) and "verbosity" in text:
        extras["verbosity"] = raw(text["verbosity"])
    metadata = load(f, "metadata")
    return Request(
        origin=_ORIGIN,
        model=str(load(f, "model") if "model" in f else ""),
        messages=history.messages,
        tools=memo_tools(f.get("tools"), ctx) + history.tools,
        tool_choice=parse_tool_choice(load(f, "tool_choice"), ctx),
        parallel_tool_calls=ok_bool(load(f, "parallel_tool_calls")),
        max_tokens=ok_int(load(f, "max_output_tokens")),
        temperature=ok_float(load(f, "temperature")),
        top_p=ok_float(load(f, "top_p")),
        reasoning=_reasoning(load(f, "reasoning")),
        response_format=_response_format(text),
        user=ok_str(load(f, "user")),
        metadata={str(k): str(v) for k, v in metadata.items()}
        if isinstance(metadata, dict)
        else None,
        stream=bool(load(f, "stream") if "stream" in f else False),
        extras=extras,
    )
