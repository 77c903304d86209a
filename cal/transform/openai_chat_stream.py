"""OpenAI Chat Completions streams ⇄ IR stream events (protocols.md §2.2, pitfalls 2, 7, 17, 23).

Parser (Chat upstream): chunks → sequential IR blocks. Text, refusal and `reasoning_content`
deltas open a block of their kind; a tool-call fragment with a new `index` (or a new `id` at a
seen index: some servers put every parallel call at index 0) opens a new tool-call block, so each
call's arguments are streamed as they arrive. A `data: {"error":…}` chunk is an in-band error;
the usage chunk (asked for with `include_usage`) becomes a usage update.
Renderer (Chat client): a role chunk, content / refusal / tool-call chunks with per-call indices
0, 1, …, the finish chunk, the usage chunk only when the client asked for it, then `[DONE]`;
on an upstream failure a `data: {"error":…}` chunk and no `[DONE]`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind, stream_error_event
from cal.sse import SSEEvent, encode_event
from cal.transform import TranslationContext
from cal.transform.common import arr, obj, ok_int, ok_str, restore_tool, try_decode
from cal.transform.ir import (
    BlockKind,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    Usage,
    UsageUpdate,
)
from cal.transform.openai_chat_response import (
    FINISH_TO,
    error_kind,
    finish_reason,
    usage_from,
    usage_json,
)


class _PlainDelta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    refusal: str | None = None
    tool_calls: Any = None


class _PlainChoice(msgspec.Struct):
    index: int = 0
    delta: _PlainDelta | None = None
    finish_reason: Any = None


class _PlainChunk(msgspec.Struct):
    """The fields that tell a chunk of plain content (most of a stream) from the rest."""

    choices: list[_PlainChoice] = msgspec.field(default_factory=list)
    usage: Any = None
    error: Any = None


_decode_plain = msgspec.json.Decoder(_PlainChunk).decode


def _plain_text(data: bytes) -> str | None:
    """The content of a chunk that carries only content (maybe none) for the first choice, read
    with a typed decoder; None for any other chunk (read field by field)."""
    try:
        chunk = _decode_plain(data)
    except msgspec.MsgspecError:
        return None
    if chunk.usage is not None or chunk.error is not None or len(chunk.choices) != 1:
        return None
    choice = chunk.choices[0]
    delta = choice.delta
    if choice.index != 0 or choice.finish_reason is not None or delta is None:
        return None
    if delta.reasoning_content or delta.reasoning or delta.refusal or delta.tool_calls is not None:
        return None
    return delta.content or ""


class _Slot(msgspec.Struct):
    index: int
    kind: BlockKind
    call_id: str | None = None


class ChatStreamParser:
    """Chat upstream chunks → IR stream events."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._started = False
        self._next = 0
        self._open: _Slot | None = None
        self._calls: dict[int, _Slot] = {}
        self._saw_calls = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Translate one chunk (`[DONE]`, keepalives and unknown shapes yield nothing)."""
        if self._started and (text := _plain_text(event.data)) is not None:  # most chunks
            return self._text_like("text", text) if text else []
        if event.data.strip() == b"[DONE]":
            return []
        d = try_decode(event.data)
        if not isinstance(d, dict):
            self._ctx.note("skipped a non-JSON upstream stream event")
            return []
        if "error" in d and not d.get("choices"):
            e = obj(d.get("error"))
            message = ok_str(e.get("message")) or "upstream error"
            return [StreamError(kind=error_kind(e, ok_int(e.get("code")) or 500), message=message)]
        out: list[StreamEvent] = []
        if not self._started:
            self._started = True
            mid, model = ok_str(d.get("id")) or "", ok_str(d.get("model")) or ""
            out.append(MessageStart(id=mid, model=model))
        for choice in arr(d.get("choices")):
            choice = obj(choice)
            if (ok_int(choice.get("index")) or 0) != 0:
                self._ctx.note("skipped stream choices other than the first")
                continue
            out += self._delta(obj(choice.get("delta")))
            if choice.get("finish_reason") is not None:
                out += self._close()
                reason = finish_reason(choice["finish_reason"], self._saw_calls, self._ctx)
                out.append(Finish(stop_reason=reason))
        if isinstance(d.get("usage"), dict):
            out.append(UsageUpdate(usage=usage_from(d["usage"])))
        return out

    def end(self) -> list[StreamEvent]:
        """Close a block left open by an upstream that ended without a finish chunk."""
        return self._close()

    def _close(self) -> list[StreamEvent]:
        slot, self._open = self._open, None
        return [BlockStop(index=slot.index)] if slot is not None else []

    def _open_block(self, kind: BlockKind, **fields: Any) -> list[StreamEvent]:
        out = self._close()
        self._open = _Slot(index=self._next, kind=kind, call_id=fields.get("id"))
        self._next += 1
        return [*out, BlockStart(index=self._open.index, kind=kind, **fields)]

    def _text_like(self, kind: BlockKind, text: str, **fields: Any) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._open is None or self._open.kind != kind:
            out = self._open_block(kind, **fields)
        assert self._open is not None
        i = self._open.index
        out.append(ThinkingDelta(index=i, text=text) if kind == "thinking" else TextDelta(i, text))
        return out

    def _delta(self, delta: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        reasoning = ok_str(delta.get("reasoning_content")) or ok_str(delta.get("reasoning"))
        if reasoning:
            out += self._text_like("thinking", reasoning, origin="openai-chat")
        if ok_str(delta.get("content")):
            out += self._text_like("text", delta["content"])
        if ok_str(delta.get("refusal")):
            out += self._text_like("refusal", delta["refusal"])
        for tc in arr(delta.get("tool_calls")):
            out += self._tool_fragment(obj(tc))
        return out

    def _tool_fragment(self, tc: dict[str, Any]) -> list[StreamEvent]:
        custom = tc.get("type") == "custom" or "custom" in tc
        body = obj(tc.get("custom" if custom else "function"))
        fragment = ok_str(body.get("input" if custom else "arguments")) or ""
        index = ok_int(tc.get("index")) or 0
        call_id = ok_str(tc.get("id"))
        slot = self._calls.get(index)
        out: list[StreamEvent] = []
        if slot is None or (call_id is not None and call_id != slot.call_id):
            self._saw_calls = True
            alias = restore_tool(ok_str(body.get("name")) or "", self._ctx)
            out = self._open_block(
                "tool_call",
                id=call_id or self._ctx.make_id("call_"),
                name=alias.name,
                tool_kind="custom" if custom else alias.kind,
                namespace=alias.namespace,
            )
            assert self._open is not None
            slot = self._calls[index] = self._open
        elif slot is not self._open:
            self._ctx.note(f"dropped an interleaved argument fragment of tool call {index}")
            return []
        if fragment:
            out.append(ToolArgsDelta(index=slot.index, fragment=fragment))
        return out


_json = msgspec.json.Encoder().encode


class ChatStreamRenderer:
    """IR stream events → Chat client chunks."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._id = ""
        self._created = 0
        self._started = False
        self._blocks: dict[int, tuple[BlockKind, int]] = {}
        self._calls = 0
        self._custom: set[int] = set()
        self._finish = "stop"
        self._usage: Usage | None = None
        self._head = self._tail = b""

    def render(self, event: StreamEvent) -> list[bytes]:
        """One IR event → zero or more chunks."""
        out = self._ensure_started()
        if isinstance(event, TextDelta):
            if event.text:
                kind = self._blocks.get(event.index, ("text", 0))[0]
                key = b'{"refusal":' if kind == "refusal" else b'{"content":'
                out.append(self._delta_chunk(key + _json(event.text) + b"}"))
        elif isinstance(event, BlockStart):
            out += self._start(event)
        elif isinstance(event, ToolArgsDelta) and event.fragment:
            out += self._args(event)
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, Finish):
            self._finish = FINISH_TO[event.stop_reason]
        return out

    def close(self) -> list[bytes]:
        """Finish chunk, usage chunk if asked for, `[DONE]`."""
        out = self._ensure_started()
        out.append(self._chunk({}, self._finish))
        if self._ctx.include_usage:
            usage = usage_json(self._usage if self._usage is not None else Usage())
            out.append(self._encode({"choices": [], "usage": usage}))
        out.append(encode_event(b"[DONE]"))
        return out

    def fail(self, kind: ErrorKind, message: str) -> list[bytes]:
        """A `data: {"error":…}` chunk (the SDK raises it); no `[DONE]`."""
        return [stream_error_event("openai-chat", kind, message)]

    def _ensure_started(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        self._id = self._ctx.make_id("chatcmpl-")
        self._created = self._ctx.now()
        return [self._chunk({"role": "assistant", "content": ""})]

    def _start(self, ev: BlockStart) -> list[bytes]:
        if ev.kind != "tool_call":
            if ev.kind == "thinking":
                self._ctx.note("reasoning not shown: Chat streams have no field for it")
            self._blocks[ev.index] = (ev.kind, 0)
            return []
        k = self._calls
        self._calls += 1
        self._blocks[ev.index] = ("tool_call", k)
        if ev.tool_kind == "custom":
            self._custom.add(ev.index)
            call: dict[str, Any] = {"type": "custom", "custom": {"name": ev.name, "input": ""}}
        else:
            call = {"type": "function", "function": {"name": ev.name, "arguments": ""}}
        return [self._chunk({"tool_calls": [{"index": k, "id": ev.id, **call}]})]

    def _args(self, ev: ToolArgsDelta) -> list[bytes]:
        kind, k = self._blocks.get(ev.index, ("text", 0))
        if kind != "tool_call":
            return []
        key = b'"custom":{"input":' if ev.index in self._custom else b'"function":{"arguments":'
        head = b'{"tool_calls":[{"index":' + str(k).encode() + b","
        return [self._delta_chunk(head + key + _json(ev.fragment) + b"}}]}")]

    def _delta_chunk(self, delta: bytes) -> bytes:
        """A chunk of one delta (JSON), byte for byte what `_chunk` makes of it, written
        directly (most of a stream is these)."""
        if not self._head:
            model = _json(self._ctx.client_model)
            self._head = b'data: {"id":' + _json(self._id) + b',"object":"chat.completion.chunk"'
            self._head += b',"created":' + _json(self._created) + b',"model":' + model
            self._tail = b',"usage":null}\n\n' if self._ctx.include_usage else b"}\n\n"
        choice = b',"choices":[{"index":0,"delta":' + delta
        return self._head + choice + b',"logprobs":null,"finish_reason":null}]' + self._tail

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._encode({"choices": [choice]})

    def _encode(self, fields: dict[str, Any]) -> bytes:
        body: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._ctx.client_model,
            **fields,
        }
        if self._ctx.include_usage and "usage" not in body:
            body["usage"] = None
        return encode_event(msgspec.json.encode(body))
