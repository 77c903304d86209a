"""How an upstream response becomes the client's: as is (same format) or translated.

A Leg sees the upstream response as it arrives and returns the bytes the client gets, recording
the raw and client-facing stream events (with their times) on the Exchange as a tee.
"""

from __future__ import annotations

from typing import Protocol

from cal.capture.model import ErrorInfo, Exchange, StreamEvent
from cal.formats import ApiFormat
from cal.formats.errors import ErrorKind, stream_error_event
from cal.formats.streams import ends_stream, is_error_event
from cal.gateway.headers import Header, downstream_headers
from cal.sse import SSEFramer, parse_event

RawHeaders = list[tuple[bytes, bytes]]
SSE_HEADERS: RawHeaders = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


class Leg(Protocol):
    def whole(
        self, status: int, body: bytes, headers: list[Header]
    ) -> tuple[int, RawHeaders, bytes]:
        """A non-stream (or error) upstream response → (status, headers, body) for the client."""
        ...

    def stream_headers(self, headers: list[Header]) -> RawHeaders: ...

    def feed(self, chunk: bytes, t_ms: float) -> bytes:
        """Upstream stream bytes → client bytes (possibly empty)."""
        ...

    def record(self, chunk: bytes, t_ms: float) -> None:
        """After `feed`'s bytes went to the client (or failed to): what is left to record of
        `chunk`."""
        ...

    def finish(self, t_ms: float) -> bytes:
        """The upstream stream ended; the last client bytes."""
        ...

    def fail(self, kind: ErrorKind, message: str, t_ms: float) -> bytes:
        """The upstream broke mid-stream; the in-band error the client gets."""
        ...


class PassThroughLeg:
    """Same format on both sides: bytes go through untouched. Events are only framed (never
    parsed) to be recorded, once the client has their bytes; the last one is read at the end to
    tell a complete stream from a cut one, and usage is read after the response from the few
    recorded events that carry it."""

    def __init__(self, exchange: Exchange, fmt: ApiFormat) -> None:
        self._exchange, self._fmt = exchange, fmt
        self._framer = SSEFramer()
        self._last = b""
        # the client sees exactly the raw events: one list serves both sides of the record
        exchange.client_events = exchange.raw_events

    def whole(
        self, status: int, body: bytes, headers: list[Header]
    ) -> tuple[int, RawHeaders, bytes]:
        return status, downstream_headers(headers), body

    def stream_headers(self, headers: list[Header]) -> RawHeaders:
        return downstream_headers(headers)

    def feed(self, chunk: bytes, t_ms: float) -> bytes:
        return chunk

    def record(self, chunk: bytes, t_ms: float) -> None:
        raws = self._framer.feed(chunk)
        if raws:
            events = self._exchange.raw_events
            for raw in raws:
                events.append(StreamEvent(t_ms, raw))
            self._last = raws[-1]

    def _drain(self, t_ms: float) -> None:
        for raw in self._framer.close():
            self._exchange.raw_events.append(StreamEvent(t_ms, raw))
            self._last = raw

    def finish(self, t_ms: float) -> bytes:
        """The upstream ended the body; if its stream never sent its final event, it was cut."""
        self._drain(t_ms)
        last = parse_event(self._last) if self._last else None
        if last is not None and ends_stream(self._fmt, last):
            if is_error_event(self._fmt, last):
                text = last.data[:300].decode("utf-8", "replace")
                self._exchange.error = ErrorInfo("upstream_status", f"in-band error: {text}")
            return b""
        message = "the upstream stream ended before its final event"
        self._exchange.error = ErrorInfo("stream_cut", message)
        return self.fail("bad_gateway", message, t_ms)

    def fail(self, kind: ErrorKind, message: str, t_ms: float) -> bytes:
        self._drain(t_ms)
        data = stream_error_event(self._fmt, kind, message)
        self._exchange.client_events = [*self._exchange.raw_events, StreamEvent(t_ms, data)]
        return data
