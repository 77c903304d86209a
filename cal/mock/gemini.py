"""The mock's Gemini API: request → Turn, Reply → GenerateContentResponse JSON or SSE chunks.

Streams as the API sends them (protocols.md §2.4): each `data:` chunk is a whole
GenerateContentResponse whose parts are deltas (thought parts first when `includeThoughts`), the
last chunk carries `finishReason: "STOP"` and the full `usageMetadata` (earlier chunks carry the
prompt count only); no terminal marker. Function calls arrive whole, one part per chunk, the first
one carrying the `thoughtSignature`. Without `?alt=sse` the stream is one JSON array.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from cal.formats.errors import error_body
from cal.mock.reply import PathInfo, Reply, ToolSpec, Turn, Usage
from cal.mock.wire import data_event, encode, raw_text

_NULL = msgspec.Raw(b"null")


class _FunctionResponse(msgspec.Struct):
    name: str = ""
    response: msgspec.Raw = _NULL


class _Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    function_response: _FunctionResponse | None = None


class _Content(msgspec.Struct):
    role: str = "user"
    parts: list[_Part] = msgspec.field(default_factory=list)


class _Declaration(msgspec.Struct, rename="camel"):
    name: str = ""
    parameters: msgspec.Raw = _NULL
    parameters_json_schema: msgspec.Raw = _NULL


class _Tool(msgspec.Struct, rename="camel"):
    function_declarations: list[_Declaration] = msgspec.field(default_factory=list)


class _ThinkingConfig(msgspec.Struct, rename="camel"):
    include_thoughts: bool | None = None
    thinking_budget: int | None = None


class _GenerationConfig(msgspec.Struct, rename="camel"):
    thinking_config: _ThinkingConfig | None = None
    max_output_tokens: int | None = None


class _CallingConfig(msgspec.Struct, rename="camel"):
    mode: str | None = None
    allowed_function_names: list[str] | None = None


class _ToolConfig(msgspec.Struct, rename="camel"):
    function_calling_config: _CallingConfig | None = None


class _Request(msgspec.Struct, rename="camel"):
    contents: list[_Content]
    tools: list[_Tool] = msgspec.field(default_factory=list)
    tool_config: _ToolConfig | None = None
    generation_config: _GenerationConfig | None = None


_decoder = msgspec.json.Decoder(_Request)


def _tools(request: _Request) -> list[ToolSpec]:
    out = []
    for tool in request.tools:
        for declaration in tool.function_declarations:
            schema = declaration.parameters_json_schema
            if bytes(schema) == b"null":
                schema = declaration.parameters
            out.append(ToolSpec(declaration.name, bytes(schema)))
    return out


def _forced(request: _Request) -> str | None:
    config = request.tool_config.function_calling_config if request.tool_config else None
    if config is None or config.mode not in ("ANY", "NONE"):
        return None
    if config.mode == "NONE":
        return "none"
    return (config.allowed_function_names or [""])[0]


def parse_turn(body: bytes, path: PathInfo) -> Turn:
    """The Turn of a generateContent request (raises msgspec errors for a body that is not one)."""
    request = _decoder.decode(body)
    forced = _forced(request)
    generation = request.generation_config
    thinking = generation.thinking_config if generation else None
    turn = Turn(
        model=path.model or "",
        stream=path.stream,
        body_size=len(body),
        tools=[] if forced == "none" else _tools(request),
        forced_tool=None if forced == "none" else forced,
        thinking=thinking is not None and thinking.thinking_budget != 0,
        thinking_visible=thinking is not None and bool(thinking.include_thoughts),
        cached=b'"cachedContent"' in body,
        sse="alt=sse" in path.query,
        max_output_tokens=generation.max_output_tokens if generation else None,
    )
    _read_contents(turn, request.contents)
    return turn


def _read_contents(turn: Turn, contents: list[_Content]) -> None:
    if contents:
        responses = [p.function_response for p in contents[-1].parts if p.function_response]
        if responses:
            turn.tool_result = raw_text(responses[-1].response)
    for content in reversed(contents):
        texts = [p.text for p in content.parts if p.text and not p.thought]
        if content.role == "user" and texts:
            turn.last_user_text = texts[-1]
            return


def usage_json(usage: Usage, final: bool = True) -> dict[str, Any]:
    """usageMetadata: prompt includes cached tokens, candidates exclude thoughts."""
    out: dict[str, Any] = {"promptTokenCount": usage.input_total}
    if final:
        out["candidatesTokenCount"] = usage.output - usage.reasoning
    out["totalTokenCount"] = usage.input_total + (usage.output if final else 0)
    if usage.cache_read:
        out["cachedContentTokenCount"] = usage.cache_read
    if final and usage.reasoning:
        out["thoughtsTokenCount"] = usage.reasoning
    out["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": usage.input_total}]
    return out


def _signature(reply: Reply) -> str:
    return base64.b64encode(reply.signature.encode()).decode()


def _parts(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    """Every part of the answer, in order, signature placed (non-streaming form)."""
    parts: list[dict[str, Any]] = []
    if reply.thinking and turn.thinking_visible:
        parts.append({"text": reply.thinking, "thought": True})
    if reply.tool_calls:
        parts += [{"functionCall": {"name": c.name, "args": c.args}} for c in reply.tool_calls]
        if reply.thinking:
            parts[-len(reply.tool_calls)]["thoughtSignature"] = _signature(reply)
    else:
        parts.append({"text": reply.text})
        if reply.thinking:
            parts[-1]["thoughtSignature"] = _signature(reply)
    return parts


def _response(
    reply: Reply, parts: list[Any], finish: bool, usage: dict[str, Any]
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = "MAX_TOKENS" if reply.truncated else "STOP"
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": reply.model,
        "responseId": reply.rid,
    }


def render_body(turn: Turn, reply: Reply) -> bytes:
    """The non-streaming GenerateContentResponse."""
    return encode(_response(reply, _parts(turn, reply), True, usage_json(reply.usage)))


def _stream_parts(turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    """One part per chunk: thought pieces, then text pieces or calls (+ a closing empty text)."""
    parts: list[dict[str, Any]] = []
    if reply.thinking and turn.thinking_visible:
        parts += [{"text": piece, "thought": True} for piece in reply.thinking_pieces()]
    if reply.tool_calls:
        calls: list[dict[str, Any]] = [
            {"functionCall": {"name": c.name, "args": c.args}} for c in reply.tool_calls
        ]
        if reply.thinking:
            calls[0]["thoughtSignature"] = _signature(reply)
        return [*parts, *calls, {"text": ""}]
    texts: list[dict[str, Any]] = [{"text": piece} for piece in reply.text_pieces()]
    if reply.thinking:
        texts[-1]["thoughtSignature"] = _signature(reply)
    return parts + texts


def _as_json_array(chunks: list[bytes]) -> list[bytes]:
    """The non-SSE stream form: one JSON array, written element by element."""
    out = [(b"[" if i == 0 else b",\r\n") + chunk for i, chunk in enumerate(chunks)]
    return [*out, b"]"]


def render_stream(turn: Turn, reply: Reply) -> list[bytes]:
    """The chunks of a streamed answer (SSE `data:` events, or JSON array pieces)."""
    parts = _stream_parts(turn, reply)
    partial, final = usage_json(reply.usage, final=False), usage_json(reply.usage)
    last = len(parts) - 1
    chunks = [
        _response(reply, [part], i == last, final if i == last else partial)
        for i, part in enumerate(parts)
    ]
    if turn.sse:
        return [data_event(chunk) for chunk in chunks]
    return _as_json_array([encode(chunk) for chunk in chunks])


def render_stream_error(turn: Turn, reply: Reply, seq: int) -> bytes:
    """The in-band error a stream ends with: an `{"error": …}` chunk (UNAVAILABLE)."""
    body = error_body("gemini", "unavailable", "The model is overloaded. Please try again later.")
    return b"data: " + body + b"\n\n" if turn.sse else b",\r\n" + body + b"]"
