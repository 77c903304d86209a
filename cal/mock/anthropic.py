"""The mock's Anthropic Messages API: request → Turn, Reply → Message JSON or SSE events.

Event order as the API sends it (protocols.md §2.1): message_start, then one block at a time
(thinking with thinking_delta + signature_delta, text with text_delta, tool_use with
input_json_delta; a ping after the first content_block_start), message_delta with the stop
reason and cumulative usage, message_stop.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import stream_error_event
from cal.mock.reply import PathInfo, Reply, ToolCall, ToolSpec, Turn, Usage, split_pieces
from cal.mock.wire import encode, last_text_part, named_event, raw_text

_NULL = msgspec.Raw(b"null")
_TEXT = frozenset({"text"})
_PING = named_event("ping", {"type": "ping"})


class _Block(msgspec.Struct):
    type: str = ""
    content: msgspec.Raw = _NULL


class _Message(msgspec.Struct):
    role: str = ""
    content: msgspec.Raw = _NULL


class _Tool(msgspec.Struct):
    name: str = ""
    type: str | None = None
    input_schema: msgspec.Raw = _NULL


class _Thinking(msgspec.Struct):
    type: str = "disabled"
    display: str | None = None


class _ToolChoice(msgspec.Struct):
    type: str = "auto"
    name: str | None = None


class _Request(msgspec.Struct):
    model: str
    messages: list[_Message]
    stream: bool | None = None
    max_tokens: int | None = None
    tools: list[_Tool] = msgspec.field(default_factory=list)
    thinking: _Thinking | None = None
    tool_choice: _ToolChoice | None = None


_decoder = msgspec.json.Decoder(_Request)
_blocks = msgspec.json.Decoder(list[_Block])


def parse_turn(body: bytes, path: PathInfo) -> Turn:
    """The Turn of a Messages request (raises msgspec errors for a body that is not one)."""
    request = _decoder.decode(body)
    tools = [
        ToolSpec(tool.name, bytes(tool.input_schema))
        for tool in request.tools
        if tool.type in (None, "custom") and bytes(tool.input_schema) != b"null"
    ]
    choice = request.tool_choice
    if choice is not None and choice.type == "none":
        tools = []
    thinking = request.thinking is not None and request.thinking.type in ("enabled", "adaptive")
    turn = Turn(
        model=request.model,
        stream=bool(request.stream),
        body_size=len(body),
        tools=tools,
        forced_tool=_forced(choice),
        thinking=thinking,
        thinking_visible=thinking
        and request.thinking is not None
        and request.thinking.display != "omitted",
        cached=b'"cache_control"' in body,
        max_output_tokens=request.max_tokens,
    )
    _read_last_user(turn, request.messages)
    return turn


def _forced(choice: _ToolChoice | None) -> str | None:
    if choice is None:
        return None
    if choice.type == "any":
        return ""
    return choice.name or "" if choice.type == "tool" else None


def _read_last_user(turn: Turn, messages: list[_Message]) -> None:
    for message in reversed(messages):
        if message.role != "user":
            continue
        try:
            blocks = _blocks.decode(message.content)
        except msgspec.DecodeError:
            blocks = []  # a plain string
        results = [block for block in blocks if block.type == "tool_result"]
        if results:
            turn.tool_result = raw_text(results[-1].content)
        turn.last_user_text = last_text_part(message.content, _TEXT)
        return


def usage_json(usage: Usage) -> dict[str, Any]:
    """Anthropic usage: uncached input, cache fields, output (thinking included)."""
    out: dict[str, Any] = {
        "input_tokens": usage.uncached_input,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_write,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": usage.output,
        "service_tier": "standard",
    }
    if usage.reasoning:
        out["output_tokens_details"] = {"thinking_tokens": usage.reasoning}
    return out


def _tool_id(reply: Reply, index: int) -> str:
    return f"toolu_{reply.rid}{index:02d}"


def _thinking_text(turn: Turn, reply: Reply) -> str:
    return reply.thinking if turn.thinking_visible else ""


def _stop_reason(reply: Reply) -> str:
    if reply.truncated:
        return "max_tokens"
    return "tool_use" if reply.tool_calls else "end_turn"


def render_body(turn: Turn, reply: Reply) -> bytes:
    """The non-streaming Message."""
    content: list[dict[str, Any]] = []
    if reply.thinking:
        thinking = _thinking_text(turn, reply)
        content.append({"type": "thinking", "thinking": thinking, "signature": reply.signature})
    content.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.tool_calls):
        content.append(
            {"type": "tool_use", "id": _tool_id(reply, i), "name": call.name, "input": call.args}
        )
    return encode(
        {
            "id": f"msg_{reply.rid}",
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": content,
            "stop_reason": _stop_reason(reply),
            "stop_sequence": None,
            "usage": usage_json(reply.usage),
        }
    )


def _start(index: int, block: dict[str, Any]) -> bytes:
    payload = {"type": "content_block_start", "index": index, "content_block": block}
    return named_event("content_block_start", payload)


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return named_event(
        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    )


def _stop(index: int) -> bytes:
    return named_event("content_block_stop", {"type": "content_block_stop", "index": index})


def _thinking_events(index: int, turn: Turn, reply: Reply) -> list[bytes]:
    events = [_start(index, {"type": "thinking", "thinking": "", "signature": ""})]
    for piece in split_pieces(_thinking_text(turn, reply), reply.chunks):
        events.append(_delta(index, {"type": "thinking_delta", "thinking": piece}))
    events.append(_delta(index, {"type": "signature_delta", "signature": reply.signature}))
    events.append(_stop(index))
    return events


def _text_events(index: int, reply: Reply) -> list[bytes]:
    events = [_start(index, {"type": "text", "text": ""})]
    for piece in reply.text_pieces():
        events.append(_delta(index, {"type": "text_delta", "text": piece}))
    events.append(_stop(index))
    return events


def _tool_events(index: int, tool_id: str, call: ToolCall, chunks: int) -> list[bytes]:
    block = {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}}
    events = [_start(index, block), _delta(index, {"type": "input_json_delta", "partial_json": ""})]
    for piece in split_pieces(call.arguments, chunks):
        events.append(_delta(index, {"type": "input_json_delta", "partial_json": piece}))
    events.append(_stop(index))
    return events


def render_stream(turn: Turn, reply: Reply) -> list[bytes]:
    """The SSE events of a streamed Message, in the API's order."""
    start_usage = usage_json(reply.usage) | {"output_tokens": 1}
    start_usage.pop("output_tokens_details", None)
    message: dict[str, Any] = {
        "id": f"msg_{reply.rid}",
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [named_event("message_start", {"type": "message_start", "message": message})]
    index = 0
    if reply.thinking:
        events += _thinking_events(index, turn, reply)
        index += 1
    events += _text_events(index, reply)
    events.insert(2, _PING)  # after the first content_block_start, as the API sends it
    for i, call in enumerate(reply.tool_calls):
        index += 1
        events += _tool_events(index, _tool_id(reply, i), call, reply.chunks)
    usage = usage_json(reply.usage)
    usage.pop("cache_creation", None)
    usage.pop("service_tier", None)
    delta = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
    events.append(
        named_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
    )
    events.append(named_event("message_stop", {"type": "message_stop"}))
    return events


def render_stream_error(turn: Turn, reply: Reply, seq: int) -> bytes:
    """The in-band error a stream ends with: `event: error` overloaded_error."""
    return stream_error_event("anthropic", "overloaded", "Overloaded")
