"""Responses stream renderer: IR stream events → a Responses SSE stream (protocols.md §2.3).

`response.created` → `response.in_progress` → per block `output_item.added` (+
`content_part.added`) → deltas → done events → `response.completed` (or `response.incomplete`)
carrying the whole response and usage; a broken upstream ends in `response.failed`. Every event
has `sequence_number` (0, 1, 2…). Each text block is one `message` item, each tool call one
`function_call`/`custom_tool_call` item, each thinking block one `reasoning` item with its summary
streamed as `reasoning_summary_text` deltas.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind
from cal.sse import encode_event
from cal.transform import TranslationContext
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    SignatureDelta,
    StopReason,
    StreamEvent,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    Usage,
    UsageUpdate,
)
from cal.transform.openai_responses_items import (
    call_item,
    message_item,
    reasoning_item,
    response_object,
    response_status,
    text_part,
    usage_json,
)

_json = msgspec.json.Encoder().encode


def _delta_shape(kind: str, index_field: str, tail: bytes = b"}") -> tuple[bytes, bytes, bytes]:
    head = f'event: {kind}\ndata: {{"type":"{kind}","sequence_number":'.encode()
    return head, index_field.encode(), tail + b"\n\n"


_DELTA_SHAPES = {
    "response.output_text.delta": _delta_shape(
        "response.output_text.delta", ',"content_index":0', b',"logprobs":[]}'
    ),
    "response.refusal.delta": _delta_shape("response.refusal.delta", ',"content_index":0'),
    "response.function_call_arguments.delta": _delta_shape(
        "response.function_call_arguments.delta", ""
    ),
    "response.custom_tool_call_input.delta": _delta_shape(
        "response.custom_tool_call_input.delta", ""
    ),
    "response.reasoning_summary_text.delta": _delta_shape(
        "response.reasoning_summary_text.delta", ',"summary_index":0'
    ),
}
"""Delta kind → (its event's bytes up to the sequence number, its index field, its ending)."""

_DELTAS = (TextDelta, ThinkingDelta, ToolArgsDelta)
_ERROR_CODES: dict[str, str] = {
    "rate_limit": "rate_limit_exceeded",
    "request_too_large": "context_length_exceeded",
    "invalid_request": "invalid_prompt",
}


class ResponsesStreamRenderer:
    """IR stream events → a Responses SSE stream for the client (one stream)."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._seq = 0
        self._resp_id = ""
        self._output: list[dict[str, Any]] = []
        self._block: BlockStart | None = None
        self._item_id = ""
        self._buf: list[str] = []
        self._signature: list[str] = []
        self._summary_open = False
        self._usage = Usage()
        self._stop: StopReason = "end_turn"

    def _emit(self, kind: str, **fields: Any) -> bytes:
        doc = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return encode_event(msgspec.json.encode(doc), event=kind)

    def _emit_delta(self, kind: str, text: str) -> bytes:
        """A delta event of the open item, byte for byte what `_emit` makes of it, written
        directly (most of a stream is these): type, sequence_number, item_id, output_index,
        the kind's index field, delta (and text deltas' empty logprobs)."""
        head, index_field, tail = _DELTA_SHAPES[kind]
        where = b',"item_id":' + _json(self._item_id) + b',"output_index":'
        seq, self._seq = self._seq, self._seq + 1
        parts = (str(seq).encode(), where, str(len(self._output)).encode(), index_field)
        return head + b"".join(parts) + b',"delta":' + _json(text) + tail

    def _response(self, status: str) -> dict[str, Any]:
        return response_object(self._resp_id, self._ctx, status, list(self._output))

    def _ensure_started(self) -> list[bytes]:
        if self._resp_id:
            return []
        self._resp_id = self._ctx.make_id("resp_")
        return [
            self._emit("response.created", response=self._response("in_progress")),
            self._emit("response.in_progress", response=self._response("in_progress")),
        ]

    def _where(self) -> dict[str, Any]:
        return {"item_id": self._item_id, "output_index": len(self._output)}

    def render(self, event: StreamEvent) -> list[bytes]:
        """Translate one IR event into zero or more client events."""
        if self._resp_id and isinstance(event, _DELTAS):  # most of a stream
            return self._delta(event)
        out = self._ensure_started()
        if isinstance(event, BlockStart):
            out += self._open(event)
        elif isinstance(event, _DELTAS):
            out += self._delta(event)
        elif isinstance(event, SignatureDelta):
            self._signature.append(event.signature)
        elif isinstance(event, BlockStop):
            out += self._close_block()
        elif isinstance(event, UsageUpdate):
            self._usage = event.usage
        elif isinstance(event, Finish):
            self._stop = event.stop_reason
        elif isinstance(event, MessageStart) and event.usage is not None:
            self._usage = event.usage
        return out

    def _open(self, start: BlockStart) -> list[bytes]:
        out = self._close_block()
        self._block, self._buf, self._signature = start, [], []
        self._summary_open = False
        where = {"output_index": len(self._output)}
        if start.kind in ("text", "refusal"):
            self._item_id = self._ctx.make_id("msg_")
            part = text_part("") if start.kind == "text" else {"type": "refusal", "refusal": ""}
            item = message_item(self._item_id, [], "in_progress")
            return [
                *out,
                self._emit("response.output_item.added", **where, item=item),
                self._emit(
                    "response.content_part.added", **self._where(), content_index=0, part=part
                ),
            ]
        if start.kind == "tool_call":
            self._item_id = self._ctx.make_id("fc_")
            item = call_item(self._call(start, ""), self._item_id, "in_progress")
        else:
            self._item_id = self._ctx.make_id("rs_")
            if start.signature:
                self._signature.append(start.signature)
            item = {"type": "reasoning", "id": self._item_id, "summary": []}
        return [*out, self._emit("response.output_item.added", **where, item=item)]

    def _call(self, block: BlockStart, arguments: str) -> ToolCall:
        return ToolCall(
            id=block.id or self._item_id,
            name=block.name or "",
            arguments=arguments,
            kind=block.tool_kind,
            namespace=block.namespace,
        )

    def _delta(self, event: TextDelta | ThinkingDelta | ToolArgsDelta) -> list[bytes]:
        block = self._block
        text = event.fragment if isinstance(event, ToolArgsDelta) else event.text
        if block is None or not text:
            return []
        self._buf.append(text)
        if block.kind == "text":
            return [self._emit_delta("response.output_text.delta", text)]
        if block.kind == "refusal":
            return [self._emit_delta("response.refusal.delta", text)]
        if block.kind == "tool_call":
            kind = (
                "custom_tool_call_input"
                if block.tool_kind == "custom"
                else "function_call_arguments"
            )
            return [self._emit_delta(f"response.{kind}.delta", text)]
        out: list[bytes] = []
        if not self._summary_open:
            self._summary_open = True
            part = {"type": "summary_text", "text": ""}
            out.append(
                self._emit(
                    "response.reasoning_summary_part.added",
                    **self._where(),
                    summary_index=0,
                    part=part,
                )
            )
        out.append(self._emit_delta("response.reasoning_summary_text.delta", text))
        return out

    def _close_block(self) -> list[bytes]:
        block, self._block = self._block, None
        if block is None:
            return []
        text = "".join(self._buf)
        if block.kind in ("text", "refusal"):
            out = self._close_message(block.kind, text)
        elif block.kind == "tool_call":
            out = self._close_call(block, text)
        else:
            out = self._close_reasoning(block, text)
        return out

    def _close_message(self, kind: str, text: str) -> list[bytes]:
        where = {**self._where(), "content_index": 0}
        if kind == "text":
            part = text_part(text)
            first = self._emit("response.output_text.done", **where, text=text, logprobs=[])
        else:
            part = {"type": "refusal", "refusal": text}
            first = self._emit("response.refusal.done", **where, refusal=text)
        item = message_item(self._item_id, [part], "completed")
        return [
            first,
            self._emit("response.content_part.done", **where, part=part),
            *self._item_done(item),
        ]

    def _close_call(self, block: BlockStart, text: str) -> list[bytes]:
        item = call_item(self._call(block, text), self._item_id, "completed")
        if block.tool_kind == "custom":
            done = self._emit("response.custom_tool_call_input.done", **self._where(), input=text)
        else:
            done = self._emit(
                "response.function_call_arguments.done", **self._where(), arguments=text
            )
        return [done, *self._item_done(item)]

    def _close_reasoning(self, block: BlockStart, text: str) -> list[bytes]:
        out: list[bytes] = []
        if self._summary_open:
            where = {**self._where(), "summary_index": 0}
            part = {"type": "summary_text", "text": text}
            out.append(self._emit("response.reasoning_summary_text.done", **where, text=text))
            out.append(self._emit("response.reasoning_summary_part.done", **where, part=part))
        thinking = Thinking(
            text=text,
            signature="".join(self._signature) or None,
            origin=block.origin,
            redacted=block.redacted,
            item_id=block.item_id,
        )
        return out + self._item_done(reasoning_item(thinking, self._item_id))

    def _item_done(self, item: dict[str, Any]) -> list[bytes]:
        out = self._emit("response.output_item.done", output_index=len(self._output), item=item)
        self._output.append(item)
        return [out]

    def close(self) -> list[bytes]:
        """End the stream with `response.completed` (or `.incomplete`) and the whole response."""
        out = self._ensure_started() + self._close_block()
        status, details = response_status(self._stop)
        response = self._response(status)
        response["incomplete_details"] = details
        response["usage"] = usage_json(self._usage)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*out, self._emit(kind, response=response)]

    def fail(self, kind: ErrorKind, message: str) -> list[bytes]:
        """End a broken stream with `response.failed` (what Codex and the SDK react to)."""
        out = self._ensure_started()
        self._block = None
        response = self._response("failed")
        response["error"] = {"code": _ERROR_CODES.get(kind, "server_error"), "message": message}
        response["usage"] = usage_json(self._usage)
        return [*out, self._emit("response.failed", response=response)]
