"""What the mock answers, decided once per request and shared by every API's renderer.

Each API module reads its request into a `Turn` (the few facts the mock needs); `plan_reply` turns
that into a `Reply` (text, tool calls, thinking, token counts) by deterministic rules:

- text: "Hello from the cal mock provider. You said: <first 60 chars of the last user text>";
- when the last message is a tool result: "Hello from the cal mock provider. The tool returned: …";
- tool calls: the request declares tools and the last user text contains the word "tool" (or
  "tools"), or the request forces a tool choice: call the first declared tool ("parallel" in the
  text: the first two), with arguments that fill the schema's required properties;
- a text answer longer than the request's output limit (max_tokens…, 4 characters a token) is
  cut there and stops for max tokens;
- tokens: input = request body bytes / 4; with a cache marker, 3/4 of it is a cache read and 1/8 a
  cache write; output = reply characters / 4 (+ thinking characters / 4 as reasoning).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any, Literal

import msgspec

PREVIEW_CHARS = 60
GREETING = "Hello from the cal mock provider."
_TOOL_WORD = re.compile(r"\btools?\b", re.IGNORECASE)
_PARALLEL_WORD = re.compile(r"\bparallel\b", re.IGNORECASE)
_MAX_SCHEMA_DEPTH = 8


class MockOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How the mock streams: `chunks` text deltas per stream, `interval_ms` between events."""

    chunks: int = 8
    interval_ms: int = 0


ToolKind = Literal["function", "custom"]


class ToolSpec(msgspec.Struct, frozen=True):
    """A declared tool: its name, its JSON schema (raw), and where it came from."""

    name: str
    schema: bytes = b"{}"
    kind: ToolKind = "function"
    namespace: str | None = None


class PathInfo(msgspec.Struct, frozen=True):
    """What the request path and query say: Gemini's model and action, `alt=sse`."""

    model: str | None = None
    stream: bool = False
    query: str = ""


class Turn(msgspec.Struct, kw_only=True):
    """The facts of one request that decide the mock's answer (filled by each API module)."""

    model: str
    stream: bool = False
    body_size: int = 0
    last_user_text: str = ""
    tool_result: str | None = None
    """Text of the tool result when the last message is one."""
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    forced_tool: str | None = None
    """A tool the request's tool_choice requires ("" = any tool)."""
    thinking: bool = False
    """The request enables thinking/reasoning (counted as reasoning tokens)."""
    thinking_visible: bool = True
    """Thinking text is shown (Anthropic display "omitted" and Chat show none)."""
    encrypted_reasoning: bool = False
    cached: bool = False
    include_usage: bool = False
    """OpenAI Chat streams: `stream_options.include_usage`."""
    max_output_tokens: int | None = None
    """The request's output limit; a text answer longer than it is cut (stop reason max tokens)."""
    sse: bool = True
    """Gemini streams: `?alt=sse` (otherwise one streamed JSON array)."""
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    """Request values a renderer echoes (tool_choice, parallel_tool_calls, reasoning…)."""


class ToolCall(msgspec.Struct, frozen=True):
    """One call the mock makes: `arguments` is compact JSON (custom tools: plain input text)."""

    name: str
    arguments: str
    args: Any
    kind: ToolKind = "function"
    namespace: str | None = None


class Usage(msgspec.Struct, frozen=True):
    """Token counts in the canonical split (protocols.md §3.6)."""

    input_total: int
    cache_read: int
    cache_write: int
    output: int
    reasoning: int

    @property
    def uncached_input(self) -> int:
        return self.input_total - self.cache_read - self.cache_write


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to render: `text` (a preface when there are tool calls), calls, thinking."""

    model: str
    rid: str
    created: int
    text: str
    thinking: str
    tool_calls: list[ToolCall]
    usage: Usage
    chunks: int
    signature: str
    truncated: bool = False
    """The text was cut at the request's output limit."""

    def text_pieces(self) -> list[str]:
        return split_pieces(self.text, self.chunks)

    def thinking_pieces(self) -> list[str]:
        return split_pieces(self.thinking, self.chunks)


def split_pieces(text: str, chunks: int) -> list[str]:
    """`text` cut into at most `chunks` non-empty pieces of near-equal length."""
    if not text:
        return []
    count = max(1, min(chunks, len(text)))
    step, extra = divmod(len(text), count)
    pieces, pos = [], 0
    for i in range(count):
        size = step + (1 if i < extra else 0)
        pieces.append(text[pos : pos + size])
        pos += size
    return pieces


def preview(text: str) -> str:
    """The first PREVIEW_CHARS characters of `text`, whitespace collapsed."""
    return " ".join(text.split())[:PREVIEW_CHARS]


def wants_tools(turn: Turn) -> bool:
    """The tool rule: tools declared, no tool result pending, "tool" in the text or a forced choice."""
    if not turn.tools or turn.tool_result is not None:
        return False
    return turn.forced_tool is not None or _TOOL_WORD.search(turn.last_user_text) is not None


def chosen_tools(turn: Turn) -> list[ToolSpec]:
    """The tools the mock calls: the forced one, else the first (the first two for "parallel")."""
    if turn.forced_tool:
        named = [tool for tool in turn.tools if tool.name == turn.forced_tool]
        if named:
            return named[:1]
    count = 2 if _PARALLEL_WORD.search(turn.last_user_text) else 1
    return turn.tools[:count]


def schema_value(schema: Any, depth: int = 0) -> Any:
    """A value that fits `schema`: "mock" for strings, 1 for numbers, true, [], {required…}.

    `const`, the first `enum` value or `default` win; unions take their first branch; minimum,
    exclusiveMinimum, minItems and minLength are respected.
    """
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return "mock"
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return schema_value(options[0], depth + 1)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _value_of_type(str(kind).lower(), schema, depth)


def _value_of_type(kind: str, schema: dict[str, Any], depth: int) -> Any:
    if kind == "object":
        return schema_arguments(schema, depth + 1)
    if kind == "array":
        count = schema.get("minItems")
        count = count if isinstance(count, int) and not isinstance(count, bool) else 0
        return [schema_value(schema.get("items", {}), depth + 1) for _ in range(min(count, 8))]
    if kind in ("number", "integer"):
        return _number_value(schema)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    length = schema.get("minLength")
    return "mock".ljust(length, "k") if isinstance(length, int) and length > 4 else "mock"


def _number_value(schema: dict[str, Any]) -> int:
    """1, or the smallest integer the schema's minimum / exclusiveMinimum allows above it."""
    low, exclusive = schema.get("minimum"), schema.get("exclusiveMinimum")
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        return max(1, int(exclusive) + 1)
    if isinstance(low, int | float) and not isinstance(low, bool):
        return max(1, math.ceil(low))
    return 1


def schema_arguments(schema: Any, depth: int = 0) -> dict[str, Any]:
    """An object with a value for every required property of an object schema."""
    if not isinstance(schema, dict):
        return {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    names = (
        [name for name in required if isinstance(name, str)] if isinstance(required, list) else []
    )
    return {name: schema_value(properties.get(name, {}), depth) for name in names}


def make_tool_call(tool: ToolSpec) -> ToolCall:
    """The deterministic call of `tool` (custom tools get the plain input "mock")."""
    if tool.kind == "custom":
        return ToolCall(tool.name, "mock", "mock", "custom", tool.namespace)
    try:
        schema = msgspec.json.decode(tool.schema)
    except msgspec.DecodeError:
        schema = {}
    args = schema_arguments(schema)
    return ToolCall(tool.name, msgspec.json.encode(args).decode(), args, "function", tool.namespace)


def count_tokens(body_size: int) -> int:
    """The mock's input token count for a request body of `body_size` bytes."""
    return max(1, body_size // 4)


def _usage(turn: Turn, text: str, thinking: str, calls: list[ToolCall]) -> Usage:
    total = count_tokens(turn.body_size)
    read = total * 3 // 4 if turn.cached else 0
    write = total // 8 if turn.cached else 0
    visible = max(1, len(text) // 4) + sum(5 + len(call.arguments) // 4 for call in calls)
    reasoning = max(1, len(thinking) // 4) if thinking else 0
    return Usage(total, read, write, visible + reasoning, reasoning)


def _answer_text(turn: Turn, calls: list[ToolCall]) -> str:
    if calls:
        names = " and ".join(call.name for call in calls)
        return f"I will call {names}."
    if turn.tool_result is not None:
        return f"{GREETING} The tool returned: {preview(turn.tool_result)}"
    return f"{GREETING} You said: {preview(turn.last_user_text)}"


def plan_reply(turn: Turn, options: MockOptions, *, rid: str, created: int) -> Reply:
    """Decide the answer to `turn` (pure: the same turn, options and rid give the same reply)."""
    calls = [make_tool_call(tool) for tool in chosen_tools(turn)] if wants_tools(turn) else []
    text = _answer_text(turn, calls)
    limit = turn.max_output_tokens
    truncated = not calls and limit is not None and len(text) // 4 > max(1, limit)
    if truncated and limit is not None:
        text = text[: max(1, limit) * 4]
    thinking = (
        f"Mock reasoning about: {preview(turn.last_user_text or text)}" if turn.thinking else ""
    )
    digest = hashlib.sha256(f"{rid}:{thinking}".encode()).hexdigest()
    return Reply(
        model=turn.model,
        rid=rid,
        created=created,
        text=text,
        thinking=thinking,
        tool_calls=calls,
        usage=_usage(turn, text, thinking, calls),
        chunks=max(1, options.chunks),
        signature=f"mocksig_{digest[:48]}",
        truncated=truncated,
    )
