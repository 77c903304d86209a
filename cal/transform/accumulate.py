"""Fold IR stream events into the IR response they describe.

Used to check that a translated stream and a translated non-stream answer agree (tests), and by
anyone who needs the final message of a stream. Pure; tolerant of what renderers must tolerate.
"""

from __future__ import annotations

from cal.transform.ir import (
    BlockStart,
    BlockStop,
    Finish,
    MessageStart,
    Part,
    Refusal,
    Response,
    SignatureDelta,
    StreamError,
    StreamEvent,
    Text,
    TextDelta,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
    UsageUpdate,
)


class Accumulator:
    """Feed IR stream events with `add`; read the result with `response()`."""

    def __init__(self) -> None:
        self._resp = Response(id="", model="")
        self._blocks: dict[int, Part] = {}
        self.error: StreamError | None = None

    def add(self, event: StreamEvent) -> None:
        """Apply one event."""
        r = self._resp
        if isinstance(event, MessageStart):
            r.id, r.model = event.id, event.model
            if event.usage is not None:
                r.usage = event.usage
        elif isinstance(event, BlockStart):
            self._blocks[event.index] = _new_block(event)
        elif isinstance(event, TextDelta | ThinkingDelta | SignatureDelta | ToolArgsDelta):
            _apply_delta(self._blocks.get(event.index), event)
        elif isinstance(event, UsageUpdate):
            r.usage = event.usage
        elif isinstance(event, Finish):
            r.stop_reason, r.stop_sequence = event.stop_reason, event.stop_sequence
        elif isinstance(event, StreamError):
            self.error = event
        elif isinstance(event, BlockStop):
            pass

    def extend(self, events: list[StreamEvent]) -> None:
        """Apply several events."""
        for ev in events:
            self.add(ev)

    def response(self) -> Response:
        """The response so far, blocks in index order."""
        self._resp.content = [self._blocks[i] for i in sorted(self._blocks)]
        return self._resp


def _new_block(ev: BlockStart) -> Part:
    if ev.kind == "tool_call":
        return ToolCall(
            id=ev.id or "",
            name=ev.name or "",
            kind=ev.tool_kind,
            namespace=ev.namespace,
            item_id=ev.item_id,
        )
    if ev.kind == "thinking":
        return Thinking(
            signature=ev.signature, origin=ev.origin, redacted=ev.redacted, item_id=ev.item_id
        )
    if ev.kind == "refusal":
        return Refusal(text="")
    return Text(text="")


def _apply_delta(
    block: Part | None, ev: TextDelta | ThinkingDelta | SignatureDelta | ToolArgsDelta
) -> None:
    text_ok = isinstance(ev, TextDelta) and isinstance(block, Text | Refusal)
    if text_ok or (isinstance(ev, ThinkingDelta) and isinstance(block, Thinking)):
        assert isinstance(block, Text | Refusal | Thinking)
        assert isinstance(ev, TextDelta | ThinkingDelta)
        block.text += ev.text
    elif isinstance(ev, SignatureDelta) and isinstance(block, Thinking):
        block.signature = (block.signature or "") + ev.signature
        block.origin = ev.origin or block.origin
    elif isinstance(ev, ToolArgsDelta) and isinstance(block, ToolCall):
        block.arguments += ev.fragment
