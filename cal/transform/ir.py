"""The intermediate representation (IR) every codec translates to and from.

A route is `client codec ∘ upstream codec`: the client codec parses the client's request into an
IR `Request`, the upstream codec renders it for the upstream; responses and stream events come
back the other way (`Response`, `StreamEvent`). The IR keeps everything two or more APIs share,
in a neutral form, and keeps what only one API knows in `extras` / `Opaque` so that nothing is
lost silently: a renderer that cannot carry something drops it and says so in `ctx.notes`.

Conventions every codec follows (read them before writing one):

- Instructions: system and developer instructions are `Message`s with role `"system"` or
  `"developer"`, in their place in `Request.messages`. Anthropic's top-level `system` becomes the
  leading system message(s); `leading_instructions()` splits them off again for targets that
  have a top-level field. Order and position are kept.
- Tool results live in messages of role `"tool"` (one or more `ToolResult` parts, nothing else),
  placed where the source put them. An Anthropic user message `[tool_result…, text…]` parses to a
  tool message followed by a user message; the Anthropic renderer merges them back.
- Tool-call arguments are JSON *text* (`ToolCall.arguments`), exactly as they came: OpenAI's
  string verbatim, Anthropic's `input` object as its raw JSON bytes decoded. `kind="custom"`
  (OpenAI freeform tools) carries the raw free-form input text instead of JSON.
- Reasoning (`Thinking`) is provider-bound: `origin` names the API whose blob (`signature`) it
  carries. A renderer sends a blob upstream only when `origin` is its own format; a client
  renderer for another origin wraps the whole block with `seal()` into the client's opaque field
  (Anthropic `signature`, Responses `encrypted_content`, Gemini `thoughtSignature`), and the
  client parser opens it with `unseal()` on the next turn (protocols.md §3.8). Gemini signatures
  become a `Thinking(text="", origin="gemini")` placed immediately before the part they were
  attached to.
- Usage is the canonical record of protocols.md §3.6 (`Usage`), never a provider's raw fields.
- Stream events are sequential blocks: `BlockStart(i)`, its deltas, `BlockStop(i)`, then block
  `i + 1`; `i` is the block's position in the final `Response.content`. Exactly one block is open
  at a time. A parser whose API may interleave blocks (Chat tool calls) closes the open block
  when the next one starts, as every known server streams calls one after the other; a late
  fragment for a closed call is dropped with a note.

Stream events, `Usage`, `StopReason` and `ToolKind` are declared in `ir_stream` and re-exported
here: import everything from `cal.transform.ir`.

Rule: this module imports only the stdlib, msgspec and cal.formats; it holds data and tiny pure
helpers, no translation logic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Literal

import msgspec

from cal.formats import API_FORMATS, ApiFormat

# re-exported: the IR is one vocabulary for codecs
from cal.transform.ir_stream import (
    BlockKind as BlockKind,
    BlockStart as BlockStart,
    BlockStop as BlockStop,
    Finish as Finish,
    MessageStart as MessageStart,
    SignatureDelta as SignatureDelta,
    StopReason as StopReason,
    StreamError as StreamError,
    StreamEvent as StreamEvent,
    TextDelta as TextDelta,
    ThinkingDelta as ThinkingDelta,
    ToolArgsDelta as ToolArgsDelta,
    ToolKind as ToolKind,
    Usage as Usage,
    UsageUpdate as UsageUpdate,
)

Role = Literal["system", "developer", "user", "assistant", "tool"]


class CacheMark(msgspec.Struct, frozen=True, omit_defaults=True):
    """A prompt-cache breakpoint on a part or tool (Anthropic `cache_control`, OpenAI
    `prompt_cache_breakpoint`). `ttl` as the source said it ("5m", "1h", "30m", "12h") or None."""

    ttl: str | None = None


# ---------------------------------------------------------------- content parts


class Text(msgspec.Struct, tag="text", omit_defaults=True):
    """Plain text (input or output)."""

    text: str
    cache: CacheMark | None = None


class Image(msgspec.Struct, tag="image", omit_defaults=True):
    """An image: base64 `data` with `media_type`, or a `url` (https or anything else), or a
    provider `file_id`. `detail` is OpenAI's hint (auto|low|high|original)."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    file_id: str | None = None
    detail: str | None = None
    cache: CacheMark | None = None


class File(msgspec.Struct, tag="file", omit_defaults=True):
    """A document (PDF, plain text…): base64 `data` or `text` or `url` or `file_id`."""

    media_type: str | None = None
    data: str | None = None
    text: str | None = None
    url: str | None = None
    file_id: str | None = None
    filename: str | None = None
    title: str | None = None
    cache: CacheMark | None = None


class ToolCall(msgspec.Struct, tag="tool_call", omit_defaults=True):
    """A call the assistant made.

    `arguments` is JSON text for `kind="function"` (possibly not a valid object when an upstream
    misbehaves: renderers that need an object use `arguments_object()` and note failures), the
    raw free-form input for `kind="custom"`. `namespace` is the Responses tool namespace;
    `item_id` the provider's item id when separate from the call id (Responses `fc_…`).
    """

    id: str
    name: str
    arguments: str = ""
    kind: ToolKind = "function"
    namespace: str | None = None
    item_id: str | None = None
    cache: CacheMark | None = None


class ToolResult(msgspec.Struct, tag="tool_result", omit_defaults=True):
    """The output of a tool call (`call_id` pairs it with its `ToolCall.id`). `name` when the
    source said it (Gemini needs it; renderers recover it from history with `call_names()`)."""

    call_id: str
    content: list[Text | Image | File] = msgspec.field(default_factory=list)
    is_error: bool = False
    name: str | None = None
    kind: ToolKind = "function"
    cache: CacheMark | None = None


class Thinking(msgspec.Struct, tag="thinking", omit_defaults=True):
    """Reasoning. `text` is the readable part (Anthropic thinking, Responses summary texts joined
    by a blank line, Gemini thought text). `signature` is the provider-bound opaque blob
    (Anthropic signature, or `redacted_thinking.data` when `redacted`; Responses
    `encrypted_content`; Gemini `thoughtSignature`), valid only for `origin`. `summary` keeps
    Responses' summary parts separately when there are several; `item_id` its `rs_…` id."""

    text: str = ""
    signature: str | None = None
    origin: ApiFormat | None = None
    redacted: bool = False
    summary: list[str] | None = None
    item_id: str | None = None


class Refusal(msgspec.Struct, tag="refusal", omit_defaults=True):
    """A refusal message (OpenAI `refusal`)."""

    text: str


class Opaque(msgspec.Struct, tag="opaque", omit_defaults=True):
    """A block only `origin` understands (server-tool blocks, unknown item types), as raw JSON.
    Rendered only by the codec of `origin`; any other renderer drops it with a note."""

    origin: ApiFormat
    kind: str
    data: msgspec.Raw


Part = Text | Image | File | ToolCall | ToolResult | Thinking | Refusal | Opaque


class Message(msgspec.Struct, omit_defaults=True):
    """One turn. `extras` keeps per-message fields of the source API (Claude Code's
    `output_config` on a system message, Responses `phase`/`id`), keyed by their wire name."""

    role: Role
    content: list[Part] = msgspec.field(default_factory=list)
    name: str | None = None
    extras: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- tools and parameters


class Tool(msgspec.Struct, omit_defaults=True):
    """A client-side tool. `parameters` is the JSON Schema (raw JSON, untouched: cleaning for a
    picky target is that target's renderer's job). `kind="custom"` is an OpenAI freeform tool,
    `format` its grammar/format object. `extras` keeps the source's other tool fields
    (Anthropic `defer_loading`, `eager_input_streaming`…)."""

    name: str
    description: str | None = None
    parameters: msgspec.Raw | None = None
    kind: ToolKind = "function"
    strict: bool | None = None
    format: msgspec.Raw | None = None
    namespace: str | None = None
    cache: CacheMark | None = None
    extras: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)


class ToolChoice(msgspec.Struct, frozen=True, omit_defaults=True):
    """`mode`: auto | any (must call one) | none | tool (`name`). `allowed` restricts the set
    (OpenAI `allowed_tools`, Gemini `allowedFunctionNames`)."""

    mode: Literal["auto", "any", "none", "tool"] = "auto"
    name: str | None = None
    allowed: list[str] | None = None


class Reasoning(msgspec.Struct, omit_defaults=True):
    """Reasoning settings. `mode`: Anthropic thinking type (enabled|adaptive|disabled) or None
    when the source only gave an effort. `effort`: low|medium|high|xhigh|max|none|minimal as the
    source said it. `budget_tokens`: Anthropic budget / Gemini thinkingBudget. `summary`:
    Responses summary (auto|concise|detailed). `display`: Anthropic display (summarized|omitted).
    `include_thoughts`: the client asked to see reasoning (Gemini includeThoughts, Responses
    summary requested)."""

    mode: str | None = None
    effort: str | None = None
    budget_tokens: int | None = None
    summary: str | None = None
    display: str | None = None
    include_thoughts: bool | None = None


class ResponseFormat(msgspec.Struct, omit_defaults=True):
    """Structured output: kind text | json_object | json_schema (+ `schema`, `name`…)."""

    kind: Literal["text", "json_object", "json_schema"] = "text"
    schema: msgspec.Raw | None = None
    name: str | None = None
    strict: bool | None = None
    description: str | None = None


class Request(msgspec.Struct, omit_defaults=True):
    """A client request in neutral form.

    `origin` is the API the request came in. `extras` holds top-level fields with no common home,
    keyed by wire name with raw JSON values; an upstream renderer of the same API family may use
    them (e.g. Chat `prompt_cache_key` to Responses), every other renderer drops them and notes
    each dropped key. `include_usage` is what a Chat client asked for in `stream_options`;
    upstream renderers ask for streamed usage whenever their API needs asking.
    """

    origin: ApiFormat
    model: str
    messages: list[Message] = msgspec.field(default_factory=list)
    tools: list[Tool] = msgspec.field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    n: int | None = None
    reasoning: Reasoning | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    cache: CacheMark | None = None
    stream: bool = False
    include_usage: bool = False
    extras: dict[str, msgspec.Raw] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------- responses and usage


class Response(msgspec.Struct, omit_defaults=True):
    """A complete (non-stream) assistant answer in neutral form. `model` is what the upstream
    said; client renderers show `ctx.client_model` instead."""

    id: str
    model: str
    content: list[Part] = msgspec.field(default_factory=list)
    stop_reason: StopReason = "end_turn"
    stop_sequence: str | None = None
    usage: Usage = msgspec.field(default_factory=Usage)
    created: int | None = None


# ---------------------------------------------------------------- helpers


def leading_instructions(messages: list[Message]) -> tuple[list[Message], list[Message]]:
    """Split the leading run of system/developer messages from the rest."""
    i = 0
    while i < len(messages) and messages[i].role in ("system", "developer"):
        i += 1
    return messages[:i], messages[i:]


def text_of(parts: list[Part]) -> str:
    """The concatenated text of the Text parts (what a text-only field can carry)."""
    return "".join(p.text for p in parts if isinstance(p, Text))


def arguments_object(arguments: str) -> msgspec.Raw | None:
    """`arguments` as a raw JSON object if it is one (empty text counts as `{}`), else None."""
    stripped = arguments.strip()
    if not stripped:
        return msgspec.Raw(b"{}")
    try:
        value = msgspec.json.decode(stripped)
    except msgspec.DecodeError:
        return None
    return msgspec.Raw(stripped.encode()) if isinstance(value, dict) else None


def call_names(messages: list[Message]) -> dict[str, str]:
    """Tool-call id → tool name, over every assistant tool call in `messages`."""
    return {p.id: p.name for m in messages for p in m.content if isinstance(p, ToolCall)}


_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def safe_tool_id(call_id: str, prefix: str = "toolu_") -> str:
    """`call_id` unchanged if it matches `^[A-Za-z0-9_-]{1,64}$`, else a deterministic safe id
    (cleaned characters + a short hash of the original), so a call and its result map alike."""
    if _SAFE_ID.match(call_id):
        return call_id
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", call_id)[:40]
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:12]
    return f"{prefix}{cleaned}_{digest}" if cleaned else f"{prefix}{digest}"


ENVELOPE_PREFIX = "gw1."
"""How every envelope `seal` makes begins (what pass-through and Gemini signatures look for)."""
_ORIGIN_TAGS: dict[str, ApiFormat] = {
    "ant": "anthropic",
    "oai": "openai-responses",
    "chat": "openai-chat",
    "gem": "gemini",
}
_TAG_FOR: dict[ApiFormat, str] = {fmt: tag for tag, fmt in _ORIGIN_TAGS.items()}
assert set(_TAG_FOR) == set(API_FORMATS)


class _Sealed(msgspec.Struct, omit_defaults=True):
    t: str = ""
    s: str | None = None
    r: bool = False
    i: str | None = None


def seal(block: Thinking) -> str:
    """Wrap a provider-bound thinking block for a client of another API (protocols.md §3.8):
    `gw1.<origin tag>.<base64url(json)>`, carrying text, blob, redacted flag and item id."""
    origin = block.origin or "openai-chat"
    payload = msgspec.json.encode(
        _Sealed(t=block.text, s=block.signature, r=block.redacted, i=block.item_id)
    )
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{ENVELOPE_PREFIX}{_TAG_FOR[origin]}.{body}"


def unseal(blob: str) -> Thinking | None:
    """The block `seal()` wrapped, or None when `blob` is not one of our envelopes."""
    if not blob.startswith(ENVELOPE_PREFIX):
        return None
    tag, _, body = blob[len(ENVELOPE_PREFIX) :].partition(".")
    origin = _ORIGIN_TAGS.get(tag)
    if origin is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        sealed = msgspec.json.decode(raw, type=_Sealed)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
    return Thinking(
        text=sealed.t, signature=sealed.s, origin=origin, redacted=sealed.r, item_id=sealed.i
    )
