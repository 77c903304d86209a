"""Sans-IO Server-Sent Events codec: bytes in, events out; events in, bytes out.

Rules: no I/O and no knowledge of LLM APIs. The decoder yields the same events however the input is
split (byte by byte or whole), keeps each event's exact raw bytes (so pass-through capture can record
what was on the wire), and bounds the bytes it holds for one incomplete event.
Line endings follow the SSE spec: LF, CRLF or a lone CR.
"""

from __future__ import annotations

import msgspec

DEFAULT_MAX_EVENT_BYTES = 32 * 1024 * 1024


class SSEError(Exception):
    """The byte stream is not acceptable SSE (an event larger than the bound)."""


class SSEEvent(msgspec.Struct, frozen=True):
    """One dispatched event. `data` is the joined data lines (LF between them), as bytes."""

    data: bytes
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    raw: bytes = b""
    """The exact bytes of the event on the wire, blank line included (comments included)."""


class SSEDecoder:
    """Incremental SSE parser: `feed(bytes) -> list[SSEEvent]`, then `close()`."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_event_bytes
        self._raw_start = 0  # offset in _buf where the current event's raw bytes begin
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._scan_pos = 0  # offset in _buf of the first byte not yet split into lines

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add bytes; return every event completed by them."""
        if not chunk:
            return []
        self._buf += chunk
        out: list[SSEEvent] = []
        buf = self._buf
        pos = self._scan_pos
        n = len(buf)
        while pos < n:
            lf = buf.find(b"\n", pos)
            cr = buf.find(b"\r", pos)
            if lf < 0 and cr < 0:
                break
            if cr < 0 or (0 <= lf < cr):
                end, nxt = lf, lf + 1
            else:
                if cr == n - 1:
                    break  # a CR at the end may be the first half of CRLF: wait for more
                end = cr
                nxt = cr + 2 if buf[cr + 1] == 0x0A else cr + 1
            line = bytes(buf[pos:end])
            pos = nxt
            if not line:
                event = self._dispatch(bytes(buf[self._raw_start : pos]))
                self._raw_start = pos
                if event is not None:
                    out.append(event)
            else:
                self._field(line)
        self._scan_pos = pos
        if self._raw_start:
            del buf[: self._raw_start]
            self._scan_pos -= self._raw_start
            self._raw_start = 0
        if len(buf) > self._max:
            raise SSEError(f"SSE event larger than {self._max} bytes")
        return out

    def close(self) -> list[SSEEvent]:
        """End of input: an unterminated final event is dispatched (as most clients do)."""
        out: list[SSEEvent] = []
        if self._scan_pos < len(self._buf):
            out += self.feed(b"\n")  # complete the last line
        if self._data:
            out += self.feed(b"\n")  # and the event
        self._buf.clear()
        self._scan_pos = self._raw_start = 0
        return out

    def _field(self, line: bytes) -> None:
        if line[:1] == b":":
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, raw: bytes) -> SSEEvent | None:
        if not self._data:  # the spec: no data lines, no event
            self._event = self._id = self._retry = None
            return None
        event = SSEEvent(
            data=b"\n".join(self._data),
            event=self._event,
            id=self._id,
            retry=self._retry,
            raw=raw,
        )
        self._data = []
        self._event = self._id = self._retry = None
        return event


def encode_event(data: bytes | str, event: str | None = None) -> bytes:
    """Encode one event: optional `event:` line, one `data:` line per data line, blank line."""
    if isinstance(data, str):
        data = data.encode()
    head = b"event: " + event.encode() + b"\n" if event else b""
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
