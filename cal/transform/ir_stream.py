"""IR stream events, usage and stop reasons (re-exported by `cal.transform.ir`; read its
docstring for the conventions).

Rule: imports only the stdlib, msgspec and cal.formats.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cal.formats import ApiFormat
from cal.formats.errors import ErrorKind

StopReason = Literal[
    "end_turn",  # natural end (Chat "stop", Responses completed, Gemini STOP)
    "max_tokens",  # output budget hit (Chat "length", Responses incomplete/max_output_tokens)
    "stop_sequence",  # a stop sequence matched (`Response.stop_sequence` says which, if known)
    "tool_use",  # the turn ends with tool calls
    "refusal",  # refused / filtered (Chat "content_filter", Gemini SAFETY…)
    "pause_turn",  # Anthropic server-tool pause
    "context_exceeded",  # Anthropic model_context_window_exceeded
    "other",  # anything else; the parser notes the provider's own value
]
ToolKind = Literal["function", "custom"]


class Usage(msgspec.Struct, omit_defaults=True):
    """Canonical usage (protocols.md §3.6). `uncached_in` excludes cache reads and writes;
    `out_total` includes `reasoning`. Emit with `input_total()` for APIs whose input includes
    cache."""

    uncached_in: int = 0
    cache_read: int = 0
    cache_write: int = 0
    out_total: int = 0
    reasoning: int = 0

    def input_total(self) -> int:
        """All input tokens: uncached + cache reads + cache writes."""
        return self.uncached_in + self.cache_read + self.cache_write


# ---------------------------------------------------------------- stream events

BlockKind = Literal["text", "thinking", "tool_call", "refusal"]


class MessageStart(msgspec.Struct, tag="message_start", omit_defaults=True):
    """The upstream began its answer. `usage` is what is known so far (often input only)."""

    id: str
    model: str
    usage: Usage | None = None


class BlockStart(msgspec.Struct, tag="block_start", omit_defaults=True):
    """A content block opens at `index`. Tool calls carry `id`, `name`, `tool_kind`,
    `namespace`, `item_id`; thinking blocks carry `origin` (and `redacted` + the whole blob in
    `signature` for Anthropic redacted thinking, which has no deltas)."""

    index: int
    kind: BlockKind
    id: str | None = None
    name: str | None = None
    tool_kind: ToolKind = "function"
    namespace: str | None = None
    item_id: str | None = None
    origin: ApiFormat | None = None
    redacted: bool = False
    signature: str | None = None


class TextDelta(msgspec.Struct, tag="text_delta"):
    """Text appended to the open text (or refusal) block."""

    index: int
    text: str


class ThinkingDelta(msgspec.Struct, tag="thinking_delta"):
    """Reasoning text appended to the open thinking block."""

    index: int
    text: str


class SignatureDelta(msgspec.Struct, tag="signature_delta", omit_defaults=True):
    """The opaque blob of the open thinking block (appended; Anthropic sends it once)."""

    index: int
    signature: str
    origin: ApiFormat | None = None


class ToolArgsDelta(msgspec.Struct, tag="tool_args_delta"):
    """A fragment of the open tool call's arguments (concatenate; may be empty)."""

    index: int
    fragment: str


class BlockStop(msgspec.Struct, tag="block_stop"):
    """The block at `index` is complete."""

    index: int


class UsageUpdate(msgspec.Struct, tag="usage"):
    """The usage known so far, whole (replaces the previous value; never a per-chunk increment)."""

    usage: Usage


class Finish(msgspec.Struct, tag="finish", omit_defaults=True):
    """The answer ended normally with `stop_reason` (usage may still follow)."""

    stop_reason: StopReason
    stop_sequence: str | None = None


class StreamError(msgspec.Struct, tag="error"):
    """The upstream reported an error in-band (the route closes the client stream with it)."""

    kind: ErrorKind
    message: str


StreamEvent = (
    MessageStart
    | BlockStart
    | TextDelta
    | ThinkingDelta
    | SignatureDelta
    | ToolArgsDelta
    | BlockStop
    | UsageUpdate
    | Finish
    | StreamError
)
