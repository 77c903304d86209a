"""How an upstream response becomes the client's: as is (same format) or translated.

A Leg sees the upstream response as it arrives and returns the bytes the client gets, recording
the raw and client-facing stream events (with their times) on the Exchange as a tee.
"""

from __future__ import annotations

from typing import Protocol

from cal.capture.model import Exchange, StreamEvent
from cal.formats import ApiFormat
from cal.formats.errors import ErrorKind, kind_for_status, stream_error_event
from cal.gateway.headers import Header, downstream_headers
from cal.sse import SSEDecoder

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

    def finish(self, t_ms: float) -> bytes:
        """The upstream stream ended; the last client bytes."""
        ...

    def fail(self, kind: ErrorKind, message: str, t_ms: float) -> bytes:
        """The upstream broke mid-stream; the in-band error the client gets."""
        ...


class PassThroughLeg:
    """Same format on both sides: bytes go through untouched; events are only observed."""

    def __init__(self, exchange: Exchange, fmt: ApiFormat) -> None:
        self._exchange, self._fmt = exchange, fmt
        self._decoder = SSEDecoder()
        # the client sees exactly the raw events: one list serves both sides of the record
        exchange.client_events = exchange.raw_events

    def whole(
        self, status: int, body: bytes, headers: list[Header]
    ) -> tuple[int, RawHeaders, bytes]:
        return status, downstream_headers(headers), body

    def stream_headers(self, headers: list[Header]) -> RawHeaders:
        return downstream_headers(headers)

    def feed(self, chunk: bytes, t_ms: float) -> bytes:
        events = self._exchange.raw_events
        for event in self._decoder.feed(chunk):
            events.append(StreamEvent(t_ms, event.raw))
        return chunk

    def finish(self, t_ms: float) -> bytes:
        for event in self._decoder.close():
            self._exchange.raw_events.append(StreamEvent(t_ms, event.raw))
        return b""

    def fail(self, kind: ErrorKind, message: str, t_ms: float) -> bytes:
        self.finish(t_ms)
        data = stream_error_event(self._fmt, kind, message)
        self._exchange.client_events = [*self._exchange.raw_events, StreamEvent(t_ms, data)]
        return data


def error_kind_for(status: int) -> ErrorKind:
    return kind_for_status(status)
