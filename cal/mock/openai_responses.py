"""The mock's OpenAI Responses API: request → Turn, Reply → Response JSON or SSE events.

Streams as the API sends them (protocols.md §2.3): response.created and response.in_progress, then
per output item output_item.added … output_item.done (reasoning summary parts, message content
parts with output_text deltas, function_call / custom_tool_call argument deltas), then
response.completed carrying usage (response.incomplete when the text was cut at
max_output_tokens); every event has a `sequence_number` counting from 0.
Tools come from top-level `tools` and Codex's `additional_tools` input items; namespaces are
flattened (the call carries its `namespace`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.mock.reply import PathInfo, Reply, ToolCall, ToolSpec, Turn, Usage, split_pieces
from cal.mock.wire import encode, last_text_part, named_event, raw_text

_NULL = msgspec.Raw(b"null")
_TEXT = frozenset({"input_text", "text", "output_text"})
_RESULT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output"})


class _Tool(msgspec.Struct):
    type: str = "function"
    name: str = ""
    parameters: msgspec.Raw = _NULL
    tools: msgspec.Raw = _NULL


class _Item(msgspec.Struct):
    type: str = "message"
    role: str = ""
    content: msgspec.Raw = _NULL
    output: msgspec.Raw = _NULL
    tools: msgspec.Raw = _NULL


class _Reasoning(msgspec.Struct):
    effort: str | None = None
    summary: str | None = None


class _Request(msgspec.Struct):
    model: str
    input: str | list[_Item] = msgspec.field(default_factory=list)
    stream: bool | None = None
    tools: msgspec.Raw = _NULL
    tool_choice: msgspec.Raw = _NULL
    parallel_tool_calls: bool | None = None
    reasoning: _Reasoning | None = None
    include: list[str] | None = None
    store: bool | None = None
    max_output_tokens: int | None = None


_decoder = msgspec.json.Decoder(_Request)
_tools_decoder = msgspec.json.Decoder(list[_Tool])


def _flatten(raw: msgspec.Raw, namespace: str | None = None) -> list[ToolSpec]:
    """Function and custom tools of a raw tool list, namespaces opened (unknown shapes skipped)."""
    if bytes(raw) == b"null":
        return []
    try:
        tools = _tools_decoder.decode(raw)
    except msgspec.DecodeError:
        return []
    out: list[ToolSpec] = []
    for tool in tools:
        if tool.type == "namespace":
            out += _flatten(tool.tools, tool.name)
        elif tool.type == "function":
            out.append(ToolSpec(tool.name, bytes(tool.parameters), "function", namespace))
        elif tool.type == "custom":
            out.append(ToolSpec(tool.name, b"{}", "custom", namespace))
    return out


def _tool_choice(raw: msgspec.Raw) -> Any:
    try:
        choice = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return "auto"
    return "auto" if choice is None else choice


def _forced(choice: Any) -> str | None:
    if choice == "required":
        return ""
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom"):
        name = choice.get("name")
        return name if isinstance(name, str) else ""
    return None


def parse_turn(body: bytes, path: PathInfo) -> Turn:
    """The Turn of a Responses request (raises msgspec errors for a body that is not one)."""
    request = _decoder.decode(body)
    items = request.input if isinstance(request.input, list) else []
    tools = _flatten(request.tools)
    for item in items:
        if item.type == "additional_tools":
            tools += _flatten(item.tools)
    choice = _tool_choice(request.tool_choice)
    reasoning = request.reasoning
    turn = Turn(
        model=request.model,
        stream=bool(request.stream),
        body_size=len(body),
        tools=[] if choice == "none" else tools,
        forced_tool=_forced(choice),
        thinking=reasoning is not None and reasoning.effort != "none",
        encrypted_reasoning="reasoning.encrypted_content" in (request.include or ()),
        cached=b'"prompt_cache_key"' in body or b'"prompt_cache_breakpoint"' in body,
        max_output_tokens=request.max_output_tokens,
        extra={
            "tool_choice": choice,
            "parallel_tool_calls": request.parallel_tool_calls is not False,
            "reasoning": msgspec.to_builtins(reasoning) if reasoning else {"effort": None},
            "store": request.store is not False,
        },
    )
    if isinstance(request.input, str):
        turn.last_user_text = request.input
    _read_items(turn, items)
    return turn


def _read_items(turn: Turn, items: list[_Item]) -> None:
    if items and items[-1].type in _RESULT_ITEMS:
        turn.tool_result = raw_text(items[-1].output)
    for item in reversed(items):
        if item.type == "message" and item.role == "user":
            turn.last_user_text = last_text_part(item.content, _TEXT)
            return


def usage_json(usage: Usage) -> dict[str, Any]:
    """Responses usage: input includes cached tokens, output includes reasoning."""
    return {
        "input_tokens": usage.input_total,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
        },
        "output_tokens": usage.output,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning},
        "total_tokens": usage.input_total + usage.output,
    }


def _reasoning_item(turn: Turn, reply: Reply, done: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"rs_{reply.rid}", "type": "reasoning", "summary": []}
    if done:
        item["summary"] = [{"type": "summary_text", "text": reply.thinking}]
    if turn.encrypted_reasoning:
        item["encrypted_content"] = f"gAAAAA{reply.signature}" if done else None
    return item


def _final_status(reply: Reply) -> str:
    """`completed`, or `incomplete` when the text was cut at max_output_tokens."""
    return "incomplete" if reply.truncated else "completed"


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _message_item(reply: Reply, done: bool) -> dict[str, Any]:
    return {
        "id": f"msg_{reply.rid}",
        "type": "message",
        "status": _final_status(reply) if done else "in_progress",
        "content": [_text_part(reply.text)] if done else [],
        "role": "assistant",
    }


def _call_item(reply: Reply, index: int, call: ToolCall, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    call_id = f"call_{reply.rid}{index:02d}"
    if call.kind == "custom":
        item = {"id": f"ctc_{reply.rid}{index:02d}", "type": "custom_tool_call", "status": status}
        item |= {"call_id": call_id, "name": call.name, "input": call.arguments if done else ""}
    else:
        item = {"id": f"fc_{reply.rid}{index:02d}", "type": "function_call", "status": status}
        item |= {"arguments": call.arguments if done else "", "call_id": call_id, "name": call.name}
    if call.namespace:
        item["namespace"] = call.namespace
    return item


def _output(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    output = [_reasoning_item(turn, reply, True)] if reply.thinking else []
    if reply.tool_calls:
        output += [_call_item(reply, i, call, True) for i, call in enumerate(reply.tool_calls)]
    else:
        output.append(_message_item(reply, True))
    return output


def _response(
    turn: Turn, reply: Reply, status: str, output: list[Any], usage: Any
) -> dict[str, Any]:
    return {
        "id": f"resp_{reply.rid}",
        "object": "response",
        "created_at": reply.created,
        "status": status,
        "background": False,
        "completed_at": reply.created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "max_output_tokens": None,
        "model": reply.model,
        "output": output,
        "parallel_tool_calls": turn.extra.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": turn.extra.get("reasoning", {"effort": None}),
        "store": turn.extra.get("store", True),
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": turn.extra.get("tool_choice", "auto"),
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def render_body(turn: Turn, reply: Reply) -> bytes:
    """The non-streaming Response."""
    return encode(
        _response(turn, reply, _final_status(reply), _output(turn, reply), usage_json(reply.usage))
    )


Step = tuple[str, dict[str, Any]]


def _reasoning_steps(turn: Turn, reply: Reply, at: int) -> list[Step]:
    where = {"item_id": f"rs_{reply.rid}", "output_index": at, "summary_index": 0}
    steps: list[Step] = [
        (
            "response.output_item.added",
            {"output_index": at, "item": _reasoning_item(turn, reply, False)},
        ),
        (
            "response.reasoning_summary_part.added",
            where | {"part": {"type": "summary_text", "text": ""}},
        ),
    ]
    for piece in reply.thinking_pieces():
        steps.append(("response.reasoning_summary_text.delta", where | {"delta": piece}))
    steps.append(("response.reasoning_summary_text.done", where | {"text": reply.thinking}))
    part = {"type": "summary_text", "text": reply.thinking}
    steps.append(("response.reasoning_summary_part.done", where | {"part": part}))
    steps.append(
        (
            "response.output_item.done",
            {"output_index": at, "item": _reasoning_item(turn, reply, True)},
        )
    )
    return steps


def _message_steps(reply: Reply, at: int) -> list[Step]:
    where = {"item_id": f"msg_{reply.rid}", "output_index": at, "content_index": 0}
    steps: list[Step] = [
        ("response.output_item.added", {"output_index": at, "item": _message_item(reply, False)}),
        ("response.content_part.added", where | {"part": _text_part("")}),
    ]
    for piece in reply.text_pieces():
        steps.append(("response.output_text.delta", where | {"delta": piece, "logprobs": []}))
    steps.append(("response.output_text.done", where | {"text": reply.text, "logprobs": []}))
    steps.append(("response.content_part.done", where | {"part": _text_part(reply.text)}))
    steps.append(
        ("response.output_item.done", {"output_index": at, "item": _message_item(reply, True)})
    )
    return steps


def _call_steps(reply: Reply, index: int, call: ToolCall, at: int) -> list[Step]:
    added = _call_item(reply, index, call, False)
    where = {"item_id": added["id"], "output_index": at}
    kind = "custom_tool_call_input" if call.kind == "custom" else "function_call_arguments"
    steps: list[Step] = [("response.output_item.added", {"output_index": at, "item": added})]
    for piece in split_pieces(call.arguments, reply.chunks):
        steps.append((f"response.{kind}.delta", where | {"delta": piece}))
    final = {"input": call.arguments} if call.kind == "custom" else {"arguments": call.arguments}
    steps.append((f"response.{kind}.done", where | final))
    steps.append(
        (
            "response.output_item.done",
            {"output_index": at, "item": _call_item(reply, index, call, True)},
        )
    )
    return steps


def _numbered(steps: list[Step]) -> list[bytes]:
    return [
        named_event(name, {"type": name, "sequence_number": seq, **payload})
        for seq, (name, payload) in enumerate(steps)
    ]


def render_stream(turn: Turn, reply: Reply) -> list[bytes]:
    """The SSE events of a streamed Response, numbered from 0, ending with its terminal event."""
    opening = _response(turn, reply, "in_progress", [], None)
    steps: list[Step] = [
        ("response.created", {"response": opening}),
        ("response.in_progress", {"response": opening}),
    ]
    at = 0
    if reply.thinking:
        steps += _reasoning_steps(turn, reply, at)
        at += 1
    if reply.tool_calls:
        for i, call in enumerate(reply.tool_calls):
            steps += _call_steps(reply, i, call, at + i)
    else:
        steps += _message_steps(reply, at)
    status = _final_status(reply)
    final = _response(turn, reply, status, _output(turn, reply), usage_json(reply.usage))
    steps.append((f"response.{status}", {"response": final}))
    return _numbered(steps)


def render_stream_error(turn: Turn, reply: Reply, seq: int) -> bytes:
    """The in-band failure a stream ends with: response.failed with `response.error`."""
    response = _response(turn, reply, "failed", [], None)
    response["error"] = {"code": "server_error", "message": "The mock provider failed mid-stream."}
    payload = {"type": "response.failed", "sequence_number": seq, "response": response}
    return named_event("response.failed", payload)


def render_prewarm(turn: Turn, reply: Reply) -> list[bytes]:
    """The answer to a WebSocket prewarm (`generate: false`): created, then completed, no output."""
    usage = reply.usage
    counted = Usage(usage.input_total, usage.cache_read, usage.cache_write, 0, 0)
    steps: list[Step] = [
        ("response.created", {"response": _response(turn, reply, "in_progress", [], None)}),
        (
            "response.completed",
            {"response": _response(turn, reply, "completed", [], usage_json(counted))},
        ),
    ]
    return _numbered(steps)
