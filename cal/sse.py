"""Sans-IO Server-Sent Events codec: bytes in, events out; events in, bytes out.

Rules: no I/O and no knowledge of LLM APIs. Decoding is two steps: `SSEFramer` cuts the byte
stream into whole events (their exact raw bytes, so pass-through capture records what was on the
wire) and `parse_event` reads one event's fields; `SSEDecoder` does both. A relay that only needs
event boundaries (pass-through) frames and parses nothing. Either yields the same events however
the input is split (byte by byte or whole) and bounds the bytes held for one incomplete event.
Line endings follow the SSE spec: LF, CRLF or a lone CR. Chunks of whole LF-terminated events,
what servers send, take a fast path that copies each event once.
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


def _is_data_line(head: bytes | bytearray) -> bool:
    """`head` (the first 5 bytes of a line, or fewer at the end) starts a `data` field."""
    return head[:4] == b"data" and (len(head) == 4 or head[4] in b":\r\n")


def _has_data(block: bytes) -> bool:
    """True when a block of LF-terminated lines has a `data` field (else it dispatches nothing)."""
    if block.startswith(b"data:") or b"\ndata:" in block:
        return True
    return block.startswith(b"data\n") or b"\ndata\n" in block


class SSEFramer:
    """Incremental event framing: `feed(bytes) -> list[bytes]` (each item one whole event's raw
    bytes, blank line included), then `close()`. Blocks without a data line (comments, an
    `event:` alone) dispatch no event and are not returned, as `SSEDecoder` skips them."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_event_bytes
        self._scan = 0  # offset in _buf of the first byte not yet split into lines
        self._data = False  # the incomplete event in _buf has a data line

    def feed(self, chunk: bytes) -> list[bytes]:
        """Add bytes; return every event completed by them."""
        if self._buf or 13 in chunk:  # pending bytes, or a CR: line by line
            return self._feed_slow(chunk)
        first = chunk.find(b"\n\n")
        if first == len(chunk) - 2 and first > 0 and chunk[0] != 0x0A:  # one whole event
            return [chunk] if chunk.startswith(b"data:") or _has_data(chunk) else []
        last = chunk.rfind(b"\n\n") if first >= 0 else -1
        if last < 0:
            return self._feed_slow(chunk)
        end = last + 2
        out = _whole_lf_events(chunk, end)
        return out if end == len(chunk) else out + self._feed_slow(chunk[end:])

    def close(self) -> list[bytes]:
        """End of input: an unterminated final event is dispatched (as most clients do)."""
        out: list[bytes] = []
        if self._scan < len(self._buf):
            out += self._feed_slow(b"\n")  # complete the last line
        if self._data:
            out += self._feed_slow(b"\n")  # and the event
        self._buf.clear()
        self._scan = 0
        self._data = False
        return out

    def _feed_slow(self, chunk: bytes) -> list[bytes]:
        buf = self._buf
        buf += chunk
        out: list[bytes] = []
        start = 0  # where the current event's raw bytes begin
        pos = self._scan
        n = len(buf)
        cr = buf.find(b"\r", pos)
        while pos < n:
            if 0 <= cr < pos:
                cr = buf.find(b"\r", pos)
            lf = buf.find(b"\n", pos)
            if lf < 0 and cr < 0:
                break
            if cr < 0 or 0 <= lf < cr:
                end, nxt = lf, lf + 1
            else:
                if cr == n - 1:
                    break  # a CR at the end may be the first half of CRLF: wait for more
                end = cr
                nxt = cr + 2 if buf[cr + 1] == 0x0A else cr + 1
            if end == pos:  # a blank line: the event ends
                if self._data:
                    out.append(bytes(buf[start:nxt]))
                self._data = False
                start = nxt
            elif not self._data and _is_data_line(buf[pos : pos + 5]):
                self._data = True
            pos = nxt
        if start:
            del buf[:start]
        self._scan = pos - start
        if len(buf) > self._max:
            raise SSEError(f"SSE event larger than {self._max} bytes")
        return out


def _whole_lf_events(chunk: bytes, end: int) -> list[bytes]:
    """The events of `chunk[:end]`, which starts at an event boundary, ends with a blank line
    and has no CR: one slice per event (blank lines between events dispatch nothing)."""
    out: list[bytes] = []
    pos = 0
    while pos < end:
        if chunk[pos] == 0x0A:  # an extra blank line
            pos += 1
            continue
        stop = chunk.find(b"\n\n", pos) + 2
        block = chunk[pos:stop]
        if _has_data(block):
            out.append(block)
        pos = stop
    return out


def parse_event(raw: bytes) -> SSEEvent | None:
    """The fields of one framed event (`raw` as `SSEFramer` returns it); None without data."""
    if 13 not in raw:  # no CR: the two shapes servers send are read at once
        lines = raw.split(b"\n")
        n, head = len(lines), lines[0]
        if n == 3 and head[:6] == b"data: " and not (lines[1] or lines[2]):
            return SSEEvent(head[6:], raw=raw)
        if (
            n == 4
            and head[:7] == b"event: "
            and lines[1][:6] == b"data: "
            and not (lines[2] or lines[3])
        ):
            return SSEEvent(lines[1][6:], head[7:].decode("utf-8", "replace"), raw=raw)
    return _parse_lines(raw)


def _parse_lines(raw: bytes) -> SSEEvent | None:
    data: list[bytes] = []
    event: str | None = None
    id_: str | None = None
    retry: int | None = None
    for line in raw.splitlines():
        if not line or line[0] == 0x3A:  # blank, or a comment
            continue
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                id_ = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            retry = int(value)
    if not data:
        return None
    joined = data[0] if len(data) == 1 else b"\n".join(data)
    return SSEEvent(data=joined, event=event, id=id_, retry=retry, raw=raw)


class SSEDecoder:
    """Incremental SSE parser: `feed(bytes) -> list[SSEEvent]`, then `close()`."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        self._framer = SSEFramer(max_event_bytes)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add bytes; return every event completed by them."""
        return _parsed(self._framer.feed(chunk))

    def close(self) -> list[SSEEvent]:
        """End of input: an unterminated final event is dispatched (as most clients do)."""
        return _parsed(self._framer.close())


def _parsed(raws: list[bytes]) -> list[SSEEvent]:
    out: list[SSEEvent] = []
    for raw in raws:
        event = parse_event(raw)
        if event is not None:
            out.append(event)
    return out


def encode_event(data: bytes | str, event: str | None = None) -> bytes:
    """Encode one event: optional `event:` line, one `data:` line per data line, blank line."""
    if isinstance(data, str):
        data = data.encode()
    head = b"event: " + event.encode() + b"\n" if event else b""
    if b"\n" not in data and b"\r" not in data:
        return head + b"data: " + data + b"\n\n"
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
