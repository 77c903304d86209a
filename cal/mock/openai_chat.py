"""The mock's OpenAI Chat Completions API: request → Turn, Reply → completion JSON or chunks.

Streams as the API sends them (protocols.md §2.2): a role chunk, content (or tool-call argument)
chunks, a finish chunk with an empty delta, the usage chunk only when
`stream_options.include_usage` is set (then every chunk carries `"usage": null`), `data: [DONE]`.
Only `function` tools are called; reasoning shows as `reasoning_tokens` in usage, never as text.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import stream_error_event
from cal.mock.reply import PathInfo, Reply, ToolSpec, Turn, Usage, split_pieces
from cal.mock.wire import data_event, encode, last_text_part, raw_text

_NULL = msgspec.Raw(b"null")
_TEXT = frozenset({"text"})
_DONE = b"data: [DONE]\n\n"


class _Message(msgspec.Struct):
    role: str = ""
    content: msgspec.Raw = _NULL


class _Function(msgspec.Struct):
    name: str = ""
    parameters: msgspec.Raw = _NULL


class _Tool(msgspec.Struct):
    type: str = "function"
    function: _Function | None = None


class _StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class _Request(msgspec.Struct):
    model: str
    messages: list[_Message]
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    tools: list[_Tool] = msgspec.field(default_factory=list)
    tool_choice: msgspec.Raw = _NULL
    reasoning_effort: str | None = None
    max_completion_tokens: int | None = None
    max_tokens: int | None = None


_decoder = msgspec.json.Decoder(_Request)


def parse_turn(body: bytes, path: PathInfo) -> Turn:
    """The Turn of a Chat Completions request (raises msgspec errors for a body that is not one)."""
    request = _decoder.decode(body)
    tools = [
        ToolSpec(tool.function.name, bytes(tool.function.parameters))
        for tool in request.tools
        if tool.type == "function" and tool.function is not None
    ]
    forced = _forced(request.tool_choice)
    turn = Turn(
        model=request.model,
        stream=bool(request.stream),
        body_size=len(body),
        tools=[] if forced == "none" else tools,
        forced_tool=None if forced == "none" else forced,
        thinking=request.reasoning_effort not in (None, "none"),
        thinking_visible=False,
        cached=b'"prompt_cache_key"' in body or b'"prompt_cache_breakpoint"' in body,
        include_usage=bool(request.stream_options and request.stream_options.include_usage),
        max_output_tokens=request.max_completion_tokens or request.max_tokens,
    )
    if request.messages and request.messages[-1].role == "tool":
        turn.tool_result = raw_text(request.messages[-1].content)
    for message in reversed(request.messages):
        if message.role == "user":
            turn.last_user_text = last_text_part(message.content, _TEXT)
            break
    return turn


def _forced(raw: msgspec.Raw) -> str | None:
    """ "none", "" (any tool), a tool name, or None (auto) from a tool_choice value."""
    try:
        choice = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if choice == "none":
        return "none"
    if choice == "required":
        return ""
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        return name if isinstance(name, str) else ""
    return None


def usage_json(usage: Usage) -> dict[str, Any]:
    """Chat usage: prompt tokens include cached ones, completion tokens include reasoning."""
    return {
        "prompt_tokens": usage.input_total,
        "completion_tokens": usage.output,
        "total_tokens": usage.input_total + usage.output,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read,
            "cache_write_tokens": usage.cache_write,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _call_id(reply: Reply, index: int) -> str:
    return f"call_{reply.rid}{index:02d}"


def _finish_reason(reply: Reply) -> str:
    if reply.truncated:
        return "length"
    return "tool_calls" if reply.tool_calls else "stop"


def render_body(turn: Turn, reply: Reply) -> bytes:
    """The non-streaming chat.completion."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if reply.tool_calls else reply.text,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(reply, i),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": _finish_reason(reply),
    }
    return encode(
        {
            "id": f"chatcmpl-{reply.rid}",
            "object": "chat.completion",
            "created": reply.created,
            "model": reply.model,
            "choices": [choice],
            "usage": usage_json(reply.usage),
            "service_tier": "default",
            "system_fingerprint": "fp_calmock",
        }
    )


class _Chunker:
    """Builds chunks that share id, created, model (and `usage: null` when usage is on)."""

    def __init__(self, turn: Turn, reply: Reply) -> None:
        self._head = {
            "id": f"chatcmpl-{reply.rid}",
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "service_tier": "default",
            "system_fingerprint": "fp_calmock",
        }
        self._usage = turn.include_usage

    def choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk: dict[str, Any] = {**self._head, "choices": [choice]}
        if self._usage:
            chunk["usage"] = None
        return data_event(chunk)

    def usage(self, usage: Usage) -> bytes:
        return data_event({**self._head, "choices": [], "usage": usage_json(usage)})


def _tool_chunks(chunker: _Chunker, reply: Reply) -> list[bytes]:
    events = []
    for i, call in enumerate(reply.tool_calls):
        function = {"name": call.name, "arguments": ""}
        first = {"index": i, "id": _call_id(reply, i), "type": "function", "function": function}
        delta: dict[str, Any] = {"tool_calls": [first]}
        if i == 0:
            delta = {"role": "assistant", "content": None, **delta}
        events.append(chunker.choice(delta))
        for piece in split_pieces(call.arguments, reply.chunks):
            fragment = {"index": i, "function": {"arguments": piece}}
            events.append(chunker.choice({"tool_calls": [fragment]}))
    return events


def render_stream(turn: Turn, reply: Reply) -> list[bytes]:
    """The `data:` chunks of a streamed completion, ending with `data: [DONE]`."""
    chunker = _Chunker(turn, reply)
    if reply.tool_calls:
        events = _tool_chunks(chunker, reply)
    else:
        events = [chunker.choice({"role": "assistant", "content": "", "refusal": None})]
        events += [chunker.choice({"content": piece}) for piece in reply.text_pieces()]
    events.append(chunker.choice({}, _finish_reason(reply)))
    if turn.include_usage:
        events.append(chunker.usage(reply.usage))
    events.append(_DONE)
    return events


def render_stream_error(turn: Turn, reply: Reply, seq: int) -> bytes:
    """The in-band error a stream ends with: a `data:` error object."""
    message = "The server had an error while processing your request. Sorry about that!"
    return stream_error_event("openai-chat", "api_error", message)
