"""Responses streams ⇄ IR stream events (protocols.md §2.3).

`ResponsesStreamParser` reads an upstream Responses SSE stream: message content parts, function
and custom tool calls (argument deltas) and reasoning items become IR blocks in order; the
terminal `response.completed|incomplete` gives usage and the stop reason, `response.failed` and
`error` an in-band error.

The renderer for Responses clients is in `openai_responses_stream_render`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cal.formats.errors import ErrorKind
from cal.sse import SSEEvent
from cal.transform import TranslationContext
from cal.transform.common import arr, obj, ok_str
from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    SignatureDelta,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    ThinkingDelta,
    ToolArgsDelta,
    UsageUpdate,
)
from cal.transform.openai_responses_items import (
    parse_usage,
)

_ERROR_KINDS: dict[str, ErrorKind] = {
    "rate_limit_exceeded": "rate_limit",
    "insufficient_quota": "rate_limit",
    "context_length_exceeded": "invalid_request",
    "invalid_prompt": "invalid_request",
    "server_error": "api_error",
}
_QUIET = frozenset(
    {
        "response.in_progress",
        "response.queued",
        "response.output_text.done",
        "response.refusal.done",
        "response.function_call_arguments.done",
        "response.custom_tool_call_input.done",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.reasoning_text.done",
        "response.output_text.annotation.added",
    }
)
"""Events whose content the parser already has from earlier events."""


class ResponsesStreamParser:
    """Upstream Responses SSE events → IR stream events (one stream)."""

    def __init__(self, ctx: TranslationContext) -> None:
        self._ctx = ctx
        self._next = 0
        self._open: int | None = None
        self._open_kind = ""
        self._got_delta = False
        self._summaries = 0
        self._calls = 0
        self._message_blocks = 0

    # -- block bookkeeping

    def _start(self, start: BlockStart) -> list[StreamEvent]:
        out = self._stop()
        start.index = self._next
        if start.kind in ("text", "refusal"):
            self._message_blocks += 1
        self._open, self._open_kind, self._got_delta, self._summaries = (
            self._next,
            start.kind,
            False,
            0,
        )
        self._next += 1
        return [*out, start]

    def _stop(self) -> list[StreamEvent]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [BlockStop(index=index)]

    def _ensure(self, kind: str) -> list[StreamEvent]:
        if self._open is not None and self._open_kind == kind:
            return []
        return self._start(BlockStart(index=0, kind=kind))  # type: ignore[arg-type]

    # -- events

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Translate one upstream event (unknown or malformed events are noted and skipped)."""
        try:
            doc = msgspec.json.decode(event.data)
        except msgspec.DecodeError:
            self._ctx.note("responses upstream: skipped a stream event that is not JSON")
            return []
        if not isinstance(doc, dict):
            return []
        kind = str(doc.get("type") or event.event or "")
        handler = _HANDLERS.get(kind)
        if handler is not None:
            try:
                return handler(self, doc)
            except (TypeError, AttributeError, ValueError) as exc:  # a malformed event
                self._ctx.note(f"responses upstream: skipped malformed {kind!r} ({exc})")
                return []
        if kind not in _QUIET:
            self._ctx.note(f"responses upstream: skipped stream event {kind!r}")
        return []

    def end(self) -> list[StreamEvent]:
        """Nothing is owed at a normal end: the terminal event closes everything."""
        return []

    def _created(self, doc: dict[str, Any]) -> list[StreamEvent]:
        resp = obj(doc.get("response"))
        return [MessageStart(id=str(resp.get("id", "")), model=str(resp.get("model", "")))]

    def _item_added(self, doc: dict[str, Any]) -> list[StreamEvent]:
        item = obj(doc.get("item"))
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            self._calls += 1
            custom = kind == "custom_tool_call"
            start = BlockStart(
                index=0,
                kind="tool_call",
                id=str(item.get("call_id") or item.get("id") or ""),
                name=str(item.get("name", "")),
                tool_kind="custom" if custom else "function",
                namespace=ok_str(item.get("namespace")),
                item_id=ok_str(item.get("id")),
            )
            return self._start(start)
        if kind == "reasoning":
            start = BlockStart(
                index=0, kind="thinking", origin="openai-responses", item_id=ok_str(item.get("id"))
            )
            return self._start(start)
        if kind == "message":
            self._message_blocks = 0
        else:
            self._ctx.note(f"responses upstream: skipped output item {kind!r}")
        return self._stop()

    def _part_added(self, doc: dict[str, Any]) -> list[StreamEvent]:
        part = obj(doc.get("part"))
        return self._start(
            BlockStart(index=0, kind="refusal" if part.get("type") == "refusal" else "text")
        )

    def _text_delta(self, doc: dict[str, Any]) -> list[StreamEvent]:
        kind = "refusal" if doc.get("type") == "response.refusal.delta" else "text"
        out = self._ensure(kind)
        delta = str(doc.get("delta") or "")
        if delta and self._open is not None:
            self._got_delta = True
            out.append(TextDelta(index=self._open, text=delta))
        return out

    def _args_delta(self, doc: dict[str, Any]) -> list[StreamEvent]:
        delta = str(doc.get("delta") or "")
        if self._open is None or self._open_kind != "tool_call" or not delta:
            return []
        self._got_delta = True
        return [ToolArgsDelta(index=self._open, fragment=delta)]

    def _summary_part(self, doc: dict[str, Any]) -> list[StreamEvent]:
        self._summaries += 1
        if self._summaries > 1 and self._open is not None:
            return [ThinkingDelta(index=self._open, text="\n\n")]
        return []

    def _thinking_delta(self, doc: dict[str, Any]) -> list[StreamEvent]:
        out = self._ensure("thinking")
        delta = str(doc.get("delta") or "")
        if delta and self._open is not None:
            self._got_delta = True
            out.append(ThinkingDelta(index=self._open, text=delta))
        return out

    def _item_done(self, doc: dict[str, Any]) -> list[StreamEvent]:
        item = obj(doc.get("item"))
        kind = item.get("type")
        out: list[StreamEvent] = []
        if self._open is not None and kind in ("function_call", "custom_tool_call"):
            args = str(item.get("input" if kind == "custom_tool_call" else "arguments") or "")
            if args and not self._got_delta:
                out.append(ToolArgsDelta(index=self._open, fragment=args))
        elif self._open is not None and kind == "reasoning":
            summary = [str(obj(p).get("text") or "") for p in arr(item.get("summary"))]
            if any(summary) and not self._got_delta:
                out.append(ThinkingDelta(index=self._open, text="\n\n".join(summary)))
            blob = item.get("encrypted_content")
            if isinstance(blob, str) and blob:
                out.append(
                    SignatureDelta(index=self._open, signature=blob, origin="openai-responses")
                )
        elif kind == "message" and not self._message_blocks:
            out += self._whole_message(item)
        return out + self._stop()

    def _whole_message(self, item: dict[str, Any]) -> list[StreamEvent]:
        """A message item whose content came only in its `done` event (no part events)."""
        out: list[StreamEvent] = []
        for part in arr(item.get("content")):
            part = obj(part)
            refusal = part.get("type") == "refusal"
            text = str(part.get("refusal" if refusal else "text") or "")
            if text:
                out += self._start(BlockStart(index=0, kind="refusal" if refusal else "text"))
                out.append(TextDelta(index=self._next - 1, text=text))
        return out

    def _part_done(self, doc: dict[str, Any]) -> list[StreamEvent]:
        return self._stop()

    def _terminal(self, doc: dict[str, Any]) -> list[StreamEvent]:
        resp = obj(doc.get("response"))
        stop: StopReason = "tool_use" if self._calls else "end_turn"
        if resp.get("status") == "incomplete" or doc.get("type") == "response.incomplete":
            reason = obj(resp.get("incomplete_details")).get("reason")
            stop = "refusal" if reason == "content_filter" else "max_tokens"
        return [
            *self._stop(),
            UsageUpdate(usage=parse_usage(resp.get("usage"))),
            Finish(stop_reason=stop),
        ]

    def _failed(self, doc: dict[str, Any]) -> list[StreamEvent]:
        error = obj(obj(doc.get("response")).get("error")) or obj(doc.get("error")) or doc
        code = str(error.get("code") or "")
        message = str(error.get("message") or "upstream response failed")
        return [StreamError(kind=_ERROR_KINDS.get(code, "api_error"), message=message)]


_HANDLERS = {
    "response.created": ResponsesStreamParser._created,
    "response.output_item.added": ResponsesStreamParser._item_added,
    "response.content_part.added": ResponsesStreamParser._part_added,
    "response.output_text.delta": ResponsesStreamParser._text_delta,
    "response.refusal.delta": ResponsesStreamParser._text_delta,
    "response.function_call_arguments.delta": ResponsesStreamParser._args_delta,
    "response.custom_tool_call_input.delta": ResponsesStreamParser._args_delta,
    "response.reasoning_summary_part.added": ResponsesStreamParser._summary_part,
    "response.reasoning_summary_text.delta": ResponsesStreamParser._thinking_delta,
    "response.reasoning_text.delta": ResponsesStreamParser._thinking_delta,
    "response.content_part.done": ResponsesStreamParser._part_done,
    "response.output_item.done": ResponsesStreamParser._item_done,
    "response.completed": ResponsesStreamParser._terminal,
    "response.incomplete": ResponsesStreamParser._terminal,
    "response.failed": ResponsesStreamParser._failed,
    "error": ResponsesStreamParser._failed,
}
