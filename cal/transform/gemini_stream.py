"""Gemini streams (`streamGenerateContent?alt=sse`) ⇄ IR stream events (protocols.md §2.4).

Parser: each SSE `data:` is a whole `GenerateContentResponse`; text parts are deltas, a
`functionCall` arrives whole (one block: start, all arguments, stop), a `thoughtSignature` ends the
thinking block it rides on or stands as a signature-only thinking block before its part.
`usageMetadata` is cumulative, so the last one wins; Gemini has no terminal event, so usage and the
finish go out when the upstream closes (`end`), and only if a `finishReason` was seen. A
`{"error":…}` chunk is an in-band error.

Renderer: one chunk per text/thought delta, one per finished tool call (Gemini calls are whole),
the sealed reasoning block as an empty thought part, and a final chunk with `finishReason` and
`usageMetadata`; a failure is an in-band `{"error":…}` chunk.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind, stream_error_event
from cal.sse import SSEEvent, encode_event
from cal.transform import TranslationContext
from cal.transform.common import arr, obj, ok_int
from cal.transform.gemini_parts import (
    PartReader,
    call_part,
    error_kind,
    finish_reason_of,
    parse_usage,
    stop_reason_of,
    usage_json,
)
from cal.transform.gemini_request import seal_signature
from cal.transform.ir import (
    BlockKind,
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    SignatureDelta,
    StopReason,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
    UsageUpdate,
)


class GeminiStreamParser:
    """Upstream Gemini SSE chunks → IR stream events (one stream)."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._reader: PartReader | None = None
        self._next = 0
        self._open: int | None = None
        self._open_kind = ""
        self._usage_meta: Any = None
        self._finish: str | None = None
        self._blocked = False

    def _start(self, kind: BlockKind, **fields: Any) -> list[StreamEvent]:
        out = self._stop()
        self._open, self._open_kind = self._next, kind
        self._next += 1
        return [*out, BlockStart(index=self._open, kind=kind, **fields)]

    def _stop(self) -> list[StreamEvent]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [BlockStop(index=index)]

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Translate one chunk (malformed chunks are noted and skipped)."""
        try:
            doc = msgspec.json.decode(event.data)
        except msgspec.DecodeError:
            self._ctx.note("gemini upstream: skipped a stream chunk that is not JSON")
            return []
        if isinstance(doc, list) and doc:
            doc = doc[0]
        if not isinstance(doc, dict):
            return []
        try:
            return self._chunk(doc)
        except (TypeError, AttributeError, ValueError) as exc:  # a malformed chunk
            self._ctx.note(f"gemini upstream: skipped a malformed stream chunk ({exc})")
            return []

    def _chunk(self, doc: dict[str, Any]) -> list[StreamEvent]:
        error = doc.get("error")
        if isinstance(error, dict):
            kind = error_kind(error, ok_int(error.get("code")) or 500)
            return [StreamError(kind=kind, message=str(error.get("message") or "upstream error"))]
        out: list[StreamEvent] = []
        if self._reader is None:
            response_id = str(doc.get("responseId") or "")
            self._reader = PartReader(response_id, self._ctx)
            out.append(MessageStart(id=response_id, model=str(doc.get("modelVersion") or "")))
        if doc.get("usageMetadata"):  # cumulative: the last one is read at the end
            self._usage_meta = doc["usageMetadata"]
        candidates = arr(doc.get("candidates"))
        first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
        for part in obj(first.get("content")).get("parts") or []:
            if isinstance(part, dict):
                out += self._part(self._reader, part)
        if first.get("finishReason"):
            self._finish = str(first["finishReason"])
        if obj(doc.get("promptFeedback")).get("blockReason"):
            self._blocked = True
        return out

    def _part(self, reader: PartReader, part: dict[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for item in reader.read(part):
            if isinstance(item, Thinking):
                out += self._thinking(item)
            elif isinstance(item, Text):
                if self._open is None or self._open_kind != "text":
                    out += self._start("text")
                assert self._open is not None
                out.append(TextDelta(index=self._open, text=item.text))
            elif isinstance(item, ToolCall):
                out += self._start(
                    "tool_call",
                    id=item.id,
                    name=item.name,
                    tool_kind=item.kind,
                    namespace=item.namespace,
                )
                assert self._open is not None
                out += [ToolArgsDelta(index=self._open, fragment=item.arguments), *self._stop()]
        return out

    def _thinking(self, item: Thinking) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._open is None or self._open_kind != "thinking" or not item.text:
            out += self._start("thinking", origin=item.origin, redacted=item.redacted)
        assert self._open is not None
        if item.text:
            out.append(ThinkingDelta(index=self._open, text=item.text))
        if item.signature:
            out.append(
                SignatureDelta(index=self._open, signature=item.signature, origin=item.origin)
            )
            out += self._stop()
        return out

    def end(self) -> list[StreamEvent]:
        """The upstream closed: close the open block; usage and finish if a finish was seen."""
        out = self._stop()
        if self._finish is None and not self._blocked:
            return out
        called = self._reader is not None and self._reader.calls > 0
        stop: StopReason = stop_reason_of(self._finish, called, self._ctx)
        if self._blocked:
            stop = "refusal"
        usage = parse_usage(self._usage_meta) if self._usage_meta is not None else Usage()
        return [*out, UsageUpdate(usage=usage), Finish(stop_reason=stop)]


_json = msgspec.json.Encoder().encode
_TEXT_CHUNK_HEAD = b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":'


class GeminiStreamRenderer:
    """IR stream events → Gemini SSE chunks for the client (one stream)."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._id = ""
        self._block: BlockStart | None = None
        self._buf: list[str] = []
        self._signature: list[str] = []
        self._usage = Usage()
        self._stop: StopReason = "end_turn"
        self._tail = b""

    def _chunk(self, parts: list[dict[str, Any]], finish: str | None = None) -> bytes:
        if not self._id:
            self._id = self._ctx.make_id("resp_")
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        doc: dict[str, Any] = {"candidates": [candidate]}
        if finish is not None:
            candidate["finishReason"] = finish
            doc["usageMetadata"] = usage_json(self._usage)
        doc["modelVersion"] = self._ctx.client_model
        doc["responseId"] = self._id
        return encode_event(msgspec.json.encode(doc))

    def _text_chunk(self, text: str, thought: bytes = b"") -> bytes:
        """A chunk of one text part, byte for byte what `_chunk` makes of it, written directly
        (most of a stream is these)."""
        if not self._tail:
            self._id = self._id or self._ctx.make_id("resp_")
            model, rid = _json(self._ctx.client_model), _json(self._id)
            self._tail = b'}]},"index":0}],"modelVersion":' + model + b',"responseId":' + rid
            self._tail += b"}\n\n"
        return _TEXT_CHUNK_HEAD + _json(text) + thought + self._tail

    def render(self, event: StreamEvent) -> list[bytes]:
        """Translate one IR event into zero or more chunks."""
        if isinstance(event, TextDelta):
            return [self._text_chunk(event.text)] if event.text else []
        if isinstance(event, MessageStart):
            self._id = self._id or self._ctx.make_id("resp_")
            if event.usage is not None:
                self._usage = event.usage
        elif isinstance(event, BlockStart):
            self._block, self._buf, self._signature = event, [], []
            if event.signature:
                self._signature.append(event.signature)
        elif isinstance(event, ThinkingDelta) and event.text:
            self._buf.append(event.text)
            return [self._text_chunk(event.text, b',"thought":true')]
        elif isinstance(event, ToolArgsDelta):
            self._buf.append(event.fragment)
        elif isinstance(event, SignatureDelta):
            self._signature.append(event.signature)
        elif isinstance(event, BlockStop):
            return self._close_block()
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, Finish):
            self._stop = event.stop_reason
        return []

    def _close_block(self) -> list[bytes]:
        block, self._block = self._block, None
        if block is None or block.kind in ("text", "refusal"):
            return []
        text = "".join(self._buf)
        if block.kind == "tool_call":
            call = ToolCall(
                id=block.id or "",
                name=block.name or "",
                arguments=text,
                kind=block.tool_kind,
                namespace=block.namespace,
            )
            return [self._chunk([call_part(call, self._ctx)])]
        thinking = Thinking(
            text=text,
            signature="".join(self._signature) or None,
            origin=block.origin,
            redacted=block.redacted,
            item_id=block.item_id,
        )
        return [
            self._chunk(
                [{"text": "", "thought": True, "thoughtSignature": seal_signature(thinking)}]
            )
        ]

    def close(self) -> list[bytes]:
        """The final chunk: `finishReason` and the whole `usageMetadata`."""
        out = self._close_block()
        return [*out, self._chunk([{"text": ""}], finish_reason_of(self._stop))]

    def fail(self, kind: ErrorKind, message: str) -> list[bytes]:
        """An in-band `{"error":…}` chunk (google-genai raises on it)."""
        return [stream_error_event("gemini", kind, message)]
