"""Anthropic Messages streams ⇄ IR stream events (protocols.md §2.1, pitfalls 1-6).

Parser (Anthropic upstream): one IR block per content block (server-tool blocks are skipped with
a note), usage merged as the SDK does (message_delta values overwrite message_start's).
Renderer (Anthropic client): message_start first, one content block open at a time with indices
0, 1, …, `input: {}` on tool_use starts and arguments only as input_json_delta, no empty deltas;
message_delta (stop reason + the final usage) and message_stop at the end; an `error` event when
the upstream breaks. Reasoning from another provider is streamed as thinking text and closed with
a sealed signature, so the client can replay it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind, stream_error_event
from cal.sse import SSEEvent, encode_event
from cal.transform import TranslationContext
from cal.transform.anthropic_response import (
    STOP_FROM,
    STOP_TO,
    error_kind,
    refusal_explanation,
    usage_from,
    usage_json,
)
from cal.transform.common import obj, ok_int, ok_str, restore_tool, try_decode, unwrap_custom_input
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    SignatureDelta,
    StreamError,
    StreamEvent,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    Usage,
    UsageUpdate,
    safe_tool_id,
    seal,
)


class _Open(msgspec.Struct):
    """An upstream block being parsed: its IR index and, for wrapped custom tools, a buffer."""

    index: int
    custom: bool = False
    buffer: str = ""


class AnthropicStreamParser:
    """Anthropic upstream SSE events → IR stream events."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._next = 0
        self._open: dict[int, _Open] = {}
        self._usage = Usage()

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Translate one event (unknown ones are noted and skipped)."""
        d = try_decode(event.data)
        if not isinstance(d, dict):
            self._ctx.note("skipped a non-JSON upstream stream event")
            return []
        kind = d.get("type") or event.event
        handler = _HANDLERS.get(str(kind))
        if handler is None:
            self._ctx.note(f"skipped unknown upstream stream event {kind!r}")
            return []
        return handler(self, d)

    def end(self) -> list[StreamEvent]:
        """Nothing is owed at the end of an Anthropic stream."""
        return []

    def _message_start(self, d: dict[str, Any]) -> list[StreamEvent]:
        msg = obj(d.get("message"))
        self._usage = usage_from(msg.get("usage"))
        mid, model = ok_str(msg.get("id")) or "", ok_str(msg.get("model")) or ""
        return [MessageStart(id=mid, model=model, usage=self._usage)]

    def _block_start(self, d: dict[str, Any]) -> list[StreamEvent]:
        block = d.get("content_block")
        up_index = ok_int(d.get("index"))
        if not isinstance(block, dict) or up_index is None:
            return []
        start = self._start_event(block)
        if start is None:
            self._ctx.note(f"skipped upstream {block.get('type')!r} block (Anthropic-only)")
            return []
        self._open[up_index] = _Open(index=start.index, custom=start.tool_kind == "custom")
        out: list[StreamEvent] = [start]
        text = ok_str(block.get("text"))
        if start.kind == "text" and text:
            out.append(TextDelta(index=start.index, text=text))
        return out

    def _start_event(self, block: dict[str, Any]) -> BlockStart | None:
        kind = block.get("type")
        index = self._next
        if kind == "text":
            ev = BlockStart(index=index, kind="text")
        elif kind == "thinking":
            ev = BlockStart(index=index, kind="thinking", origin="anthropic")
        elif kind == "redacted_thinking":
            data = ok_str(block.get("data"))
            ev = BlockStart(
                index=index, kind="thinking", origin="anthropic", redacted=True, signature=data
            )
        elif kind == "tool_use":
            alias = restore_tool(ok_str(block.get("name")) or "", self._ctx)
            ev = BlockStart(
                index=index,
                kind="tool_call",
                id=ok_str(block.get("id")) or "",
                name=alias.name,
                tool_kind=alias.kind,
                namespace=alias.namespace,
            )
        else:
            return None
        self._next += 1
        return ev

    def _block_delta(self, d: dict[str, Any]) -> list[StreamEvent]:
        slot = self._open.get(ok_int(d.get("index")) or 0)
        delta = d.get("delta")
        if slot is None or not isinstance(delta, dict):
            return []
        kind, i = delta.get("type"), slot.index
        if kind == "text_delta":
            return [TextDelta(index=i, text=ok_str(delta.get("text")) or "")]
        if kind == "input_json_delta":
            fragment = ok_str(delta.get("partial_json")) or ""
            if slot.custom:
                slot.buffer += fragment
                return []
            return [ToolArgsDelta(index=i, fragment=fragment)]
        if kind == "thinking_delta":
            return [ThinkingDelta(index=i, text=ok_str(delta.get("thinking")) or "")]
        if kind == "signature_delta":
            sig = ok_str(delta.get("signature")) or ""
            return [SignatureDelta(index=i, signature=sig, origin="anthropic")]
        self._ctx.note(f"skipped upstream delta {kind!r}")
        return []

    def _block_stop(self, d: dict[str, Any]) -> list[StreamEvent]:
        slot = self._open.pop(ok_int(d.get("index")) or 0, None)
        if slot is None:
            return []
        out: list[StreamEvent] = []
        if slot.custom:
            text = unwrap_custom_input(slot.buffer)
            out.append(ToolArgsDelta(index=slot.index, fragment=text))
        return [*out, BlockStop(index=slot.index)]

    def _message_delta(self, d: dict[str, Any]) -> list[StreamEvent]:
        self._usage = usage_from(d.get("usage"), self._usage)
        out: list[StreamEvent] = [UsageUpdate(usage=self._usage)]
        delta = obj(d.get("delta"))
        stop = ok_str(delta.get("stop_reason"))
        if stop is not None:
            if stop not in STOP_FROM:
                self._ctx.note(f"upstream stop_reason {stop!r} shown as end_turn")
            reason = STOP_FROM.get(stop, "other")
            explanation = refusal_explanation(delta.get("stop_details"))
            if explanation:
                i, self._next = self._next, self._next + 1
                out += [
                    BlockStart(index=i, kind="refusal"),
                    TextDelta(index=i, text=explanation),
                    BlockStop(index=i),
                ]
            out.append(Finish(stop_reason=reason, stop_sequence=ok_str(delta.get("stop_sequence"))))
        return out

    def _error(self, d: dict[str, Any]) -> list[StreamEvent]:
        error = d.get("error")
        message = ok_str(error.get("message")) if isinstance(error, dict) else None
        return [StreamError(kind=error_kind(error, 500), message=message or "upstream error")]

    def _ignore(self, d: dict[str, Any]) -> list[StreamEvent]:
        return []


_HANDLERS = {
    "message_start": AnthropicStreamParser._message_start,
    "content_block_start": AnthropicStreamParser._block_start,
    "content_block_delta": AnthropicStreamParser._block_delta,
    "content_block_stop": AnthropicStreamParser._block_stop,
    "message_delta": AnthropicStreamParser._message_delta,
    "message_stop": AnthropicStreamParser._ignore,
    "ping": AnthropicStreamParser._ignore,
    "error": AnthropicStreamParser._error,
}


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return encode_event(msgspec.json.encode({"type": name, **payload}), name)


_json = msgspec.json.Encoder().encode
_DELTA_FIELDS = {
    "text_delta": ("text", b'","text":'),
    "thinking_delta": ("thinking", b'","thinking":'),
    "signature_delta": ("thinking", b'","signature":'),
    "input_json_delta": ("tool_call", b'","partial_json":'),
}
"""Delta type → the kind of block it belongs to, and its JSON between the type and the value."""
_DELTA_HEAD = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'


def _delta_bytes(index: int, kind: str, value: str) -> bytes:
    """A content_block_delta event, byte for byte what `_event` makes of it, written directly
    (most of a stream is these)."""
    between = _DELTA_FIELDS[kind][1]
    parts = (b',"delta":{"type":"', kind.encode(), between, _json(value), b"}}\n\n")
    return _DELTA_HEAD + str(index).encode() + b"".join(parts)


_DELTAS = (TextDelta, ThinkingDelta, SignatureDelta, ToolArgsDelta)


class _Block(msgspec.Struct):
    """The client block being written."""

    index: int
    kind: str
    foreign: Thinking | None = None  # reasoning of another provider, sealed at its stop
    custom_id: str | None = None  # a freeform tool call: input wrapped at its stop
    buffer: str = ""


class AnthropicStreamRenderer:
    """IR stream events → Anthropic client SSE bytes."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._started = False
        self._next = 0
        self._block: _Block | None = None
        self._usage = Usage()
        self._stop: str = "end_turn"
        self._stop_sequence: str | None = None

    def render(self, event: StreamEvent) -> list[bytes]:
        """One IR event → zero or more client events."""
        if self._started and isinstance(event, _DELTAS):  # most of a stream
            return self._delta(event)
        out = self._ensure_started(event)
        if isinstance(event, BlockStart):
            out += self._close_block() + self._open_block(event)
        elif isinstance(event, _DELTAS):
            out += self._delta(event)
        elif isinstance(event, BlockStop):
            out += self._close_block()
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, Finish):
            self._stop = STOP_TO[event.stop_reason]
            self._stop_sequence = event.stop_sequence
        return out

    def close(self) -> list[bytes]:
        """Close the open block; message_delta with stop reason and usage; message_stop."""
        out = self._ensure_started(None) + self._close_block()
        delta = {"stop_reason": self._stop, "stop_sequence": self._stop_sequence}
        out.append(_event("message_delta", {"delta": delta, "usage": usage_json(self._usage)}))
        out.append(_event("message_stop", {}))
        return out

    def fail(self, kind: ErrorKind, message: str) -> list[bytes]:
        """An `error` event (the SDK raises it); no message_stop, as Anthropic does."""
        if kind == "unavailable":
            kind = "overloaded"
        return [stream_error_event("anthropic", kind, message)]

    def _ensure_started(self, event: StreamEvent | None) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        if isinstance(event, MessageStart) and event.usage is not None:
            self._usage = event.usage
        start_usage = usage_json(self._usage)
        message: dict[str, Any] = {
            "id": self._ctx.make_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self._ctx.client_model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": start_usage,
        }
        return [_event("message_start", {"message": message})]

    def _open_block(self, ev: BlockStart) -> list[bytes]:
        block = _Block(index=self._next, kind=ev.kind)
        self._next += 1
        self._block = block
        if ev.kind == "tool_call":
            content: dict[str, Any] = {
                "type": "tool_use",
                "id": safe_tool_id(ev.id or self._ctx.make_id("toolu_")),
                "name": ev.name or "",
                "input": {},
            }
            if ev.tool_kind == "custom":
                block.custom_id = ev.id
        elif ev.kind == "thinking" and ev.origin == "anthropic" and ev.redacted:
            content = {"type": "redacted_thinking", "data": ev.signature or ""}
        elif ev.kind == "thinking":
            content = {"type": "thinking", "thinking": "", "signature": ""}
            if ev.origin != "anthropic":
                block.foreign = Thinking(origin=ev.origin, signature=ev.signature)
        else:
            content = {"type": "text", "text": ""}
        return [_event("content_block_start", {"index": block.index, "content_block": content})]

    def _delta(self, ev: TextDelta | ThinkingDelta | SignatureDelta | ToolArgsDelta) -> list[bytes]:
        block = self._block
        if block is None:
            return []
        if isinstance(ev, TextDelta):
            return self._delta_event(block, "text_delta", ev.text)
        if isinstance(ev, SignatureDelta):
            if block.foreign is not None:
                block.foreign.signature = (block.foreign.signature or "") + ev.signature
                return []
            return self._delta_event(block, "signature_delta", ev.signature)
        if isinstance(ev, ThinkingDelta):
            if block.foreign is not None:
                block.foreign.text += ev.text
            return self._delta_event(block, "thinking_delta", ev.text)
        if block.custom_id is not None:
            block.buffer += ev.fragment
            return []
        return self._delta_event(block, "input_json_delta", ev.fragment)

    def _delta_event(self, block: _Block, kind: str, value: str) -> list[bytes]:
        expected = _DELTA_FIELDS[kind][0]
        if block.kind == "refusal" and expected == "text":
            expected = "refusal"
        if expected != block.kind or value == "":
            return []  # never a delta of the wrong type (pitfall 1) nor an empty one (pitfall 2)
        return [_delta_bytes(block.index, kind, value)]

    def _close_block(self) -> list[bytes]:
        block, self._block = self._block, None
        if block is None:
            return []
        out: list[bytes] = []
        if block.foreign is not None:
            sig = {"type": "signature_delta", "signature": seal(block.foreign)}
            out.append(_event("content_block_delta", {"index": block.index, "delta": sig}))
        if block.custom_id is not None:
            args = msgspec.json.encode({"input": block.buffer}).decode()
            delta = {"type": "input_json_delta", "partial_json": args}
            out.append(_event("content_block_delta", {"index": block.index, "delta": delta}))
        out.append(_event("content_block_stop", {"index": block.index}))
        return out
