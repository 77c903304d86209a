"""The HTTP/1.1 codec shared by the client and the server (RFC 9112): bytes in, bytes out, no I/O.

Heads are parsed from everything before the blank line (the caller finds `\\r\\n\\r\\n`); header names
come back lower-cased, values stripped, order and duplicates kept. `body_framing` decides how a
message's body ends (RFC 9112 §6.3); `ChunkedDecoder` undoes chunked coding whatever the split of
its input. Anything malformed raises ProtocolError; the caller decides between 400 and a dropped
connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from typing import Literal, NoReturn

MAX_HEAD_BYTES = 65536
"""The largest head (request or status line plus headers) either side accepts."""
MAX_CHUNK_LINE = 4096
"""The longest chunk-size line (size plus extensions) the decoder buffers."""
LAST_CHUNK = b"0\r\n\r\n"

Header = tuple[bytes, bytes]
Framing = tuple[Literal["length", "chunked", "close", "none"], int | None]

_TOKEN = b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_HEX = b"0123456789abcdefABCDEF"
_DIGITS = b"0123456789"
_REASONS = {s.value: s.phrase.encode("ascii") for s in HTTPStatus}


class ProtocolError(Exception):
    """A message that does not follow HTTP/1.1's syntax or framing rules."""


def _is_token(name: bytes) -> bool:
    return bool(name) and not name.translate(None, _TOKEN)


def _is_version(version: bytes) -> bool:
    return (
        len(version) == 8
        and version.startswith(b"HTTP/")
        and version[5] in _DIGITS
        and version[6] == 0x2E
        and version[7] in _DIGITS
    )


def _split_lines(head: bytes) -> list[bytes]:
    """Lines of a head on CRLF; a bare CR or LF, or a NUL, anywhere is malformed."""
    lines = head.split(b"\r\n")
    breaks = len(lines) - 1
    if head.count(b"\n") != breaks or head.count(b"\r") != breaks or b"\x00" in head:
        raise ProtocolError("bare CR, LF or NUL in a message head")
    return lines


def _parse_headers(lines: list[bytes]) -> list[Header]:
    headers: list[Header] = []
    append = headers.append
    names: list[bytes] = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not name:
            _malformed(line)
        names.append(name)
        append((name.lower(), value.strip(b" \t")))
    if names and b"".join(names).translate(None, _TOKEN):  # every name's bytes checked at once
        for line, name in zip(lines, names, strict=True):
            if not _is_token(name):
                _malformed(line)
    return headers


def _malformed(line: bytes) -> NoReturn:
    """The ProtocolError a bad header line gets."""
    if line[:1] in (b" ", b"\t"):
        raise ProtocolError("obsolete line folding in a header")
    raise ProtocolError(f"malformed header line {line[:60]!r}")


def parse_request_head(head: bytes) -> tuple[bytes, bytes, bytes, list[Header]]:
    """(method, target, version, headers) of a request head (without its final blank line)."""
    if len(head) > MAX_HEAD_BYTES:
        raise ProtocolError("request head too large")
    lines = _split_lines(head)
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise ProtocolError(f"malformed request line {lines[0][:60]!r}")
    method, target, version = parts
    if not _is_token(method) or not target or not _is_version(version):
        raise ProtocolError(f"malformed request line {lines[0][:60]!r}")
    return method, target, version, _parse_headers(lines[1:])


def parse_response_head(head: bytes) -> tuple[int, bytes, list[Header]]:
    """(status, reason, headers) of a response head (without its final blank line)."""
    if len(head) > MAX_HEAD_BYTES:
        raise ProtocolError("response head too large")
    lines = _split_lines(head)
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not _is_version(parts[0]):
        raise ProtocolError(f"malformed status line {lines[0][:60]!r}")
    code = parts[1]
    if len(code) != 3 or code.translate(None, _DIGITS):
        raise ProtocolError(f"malformed status code {code[:10]!r}")
    reason = parts[2] if len(parts) == 3 else b""
    return int(code), reason, _parse_headers(lines[1:])


def _content_length(values: list[bytes]) -> int:
    """The one length all content-length fields (and their comma lists) agree on."""
    found: set[bytes] = set()
    for value in values:
        for item in value.split(b","):
            item = item.strip(b" \t")
            if not item or item.translate(None, _DIGITS) or len(item) > 18:
                raise ProtocolError(f"malformed content-length {value[:30]!r}")
            found.add(item.lstrip(b"0") or b"0")
    if len(found) != 1:
        raise ProtocolError("conflicting content-length values")
    return int(found.pop())


def body_framing(
    headers: Iterable[Header],
    *,
    is_response: bool = False,
    status: int | None = None,
    request_method: bytes | None = None,
) -> Framing:
    """How the message's body ends: ("length", n), ("chunked", None), ("close", None) or ("none", None).

    RFC 9112 §6.3: responses to HEAD and 1xx/204/304 responses have no body; transfer-encoding
    wins over content-length and must end in chunked (a response may instead run to the close);
    a request with neither header has no body, a response with neither runs to the close.
    """
    if is_response and (
        request_method == b"HEAD" or (status is not None and (status < 200 or status in (204, 304)))
    ):
        return ("none", None)
    codings: list[bytes] = []
    lengths: list[bytes] = []
    for name, value in headers:
        if name == b"transfer-encoding":
            codings += [c.strip(b" \t").lower() for c in value.split(b",") if c.strip(b" \t")]
        elif name == b"content-length":
            lengths.append(value)
    if codings:
        if codings[-1] == b"chunked" and b"chunked" not in codings[:-1]:
            return ("chunked", None)
        if b"chunked" in codings or not is_response:
            raise ProtocolError(f"unusable transfer-encoding {b', '.join(codings)[:60]!r}")
        return ("close", None)
    if lengths:
        return ("length", _content_length(lengths))
    return ("close", None) if is_response else ("none", None)


_SIZE, _DATA, _DATA_END, _TRAILER = 0, 1, 2, 3


class ChunkedDecoder:
    """Undoes chunked transfer coding; feed it bytes as they come, in any split.

    Chunk extensions are ignored and trailers skipped. Once `done`, `rest` holds whatever followed
    the final blank line (a pipelined next message, say); later feeds are appended to it.
    """

    __slots__ = ("_pending", "_remaining", "_state", "_trailer_bytes", "done", "rest")

    def __init__(self) -> None:
        self._state = _SIZE
        self._pending = b""
        self._remaining = 0
        self._trailer_bytes = 0
        self.done = False
        self.rest = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The body pieces `data` completes (possibly none)."""
        if self.done:
            self.rest += data
            return []
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pieces: list[bytes] = []
        pos, end = 0, len(data)
        state = self._state
        while pos < end:
            if state == _DATA:
                take = min(self._remaining, end - pos)
                pieces.append(data[pos : pos + take] if take != end or pos else data)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    state = _DATA_END
            elif state == _SIZE:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._hold(data, pos, MAX_CHUNK_LINE, "chunk-size line too long")
                    break
                size = _chunk_size(data[pos:eol])
                pos = eol + 2
                if size:
                    self._remaining = size
                    state = _DATA
                else:
                    state = _TRAILER
            elif state == _DATA_END:
                if end - pos < 2:
                    if data[pos:] != b"\r":
                        raise ProtocolError("chunk data not followed by CRLF")
                    self._pending = b"\r"
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("chunk data not followed by CRLF")
                pos += 2
                state = _SIZE
            else:  # _TRAILER: skip field lines up to the blank line
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    self._hold(
                        data, pos, MAX_HEAD_BYTES - self._trailer_bytes, "trailers too large"
                    )
                    break
                self._trailer_bytes += eol + 2 - pos
                if self._trailer_bytes > MAX_HEAD_BYTES:
                    raise ProtocolError("trailers too large")
                if eol == pos:
                    self.done = True
                    self.rest = data[eol + 2 :]
                    break
                pos = eol + 2
        self._state = state
        return pieces

    def _hold(self, data: bytes, pos: int, limit: int, problem: str) -> None:
        if len(data) - pos > limit:
            raise ProtocolError(problem)
        self._pending = data[pos:]


def _chunk_size(line: bytes) -> int:
    semi = line.find(b";")
    digits = (line if semi < 0 else line[:semi]).rstrip(b" \t")
    if not digits or digits.translate(None, _HEX) or len(digits) > 16:
        raise ProtocolError(f"malformed chunk size {line[:30]!r}")
    return int(digits, 16)


def encode_chunk(data: bytes) -> bytes:
    """One chunk carrying `data`; empty data encodes to nothing (an empty chunk would end the body)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def _encode_fields(headers: list[Header]) -> bytes:
    fields = b"".join([b"%b: %b\r\n" % pair for pair in headers])
    if fields.count(b"\n") != len(headers) or fields.count(b"\r") != len(headers):
        raise ProtocolError("CR or LF inside a header to send")
    return fields


def encode_request_head(method: bytes, target: bytes, headers: list[Header]) -> bytes:
    """An HTTP/1.1 request line and headers, blank line included."""
    return b"%b %b HTTP/1.1\r\n%b\r\n" % (method, target, _encode_fields(headers))


def encode_response_head(status: int, headers: list[Header], reason: bytes | None = None) -> bytes:
    """An HTTP/1.1 status line and headers, blank line included."""
    if reason is None:
        reason = _REASONS.get(status, b"")
    return b"HTTP/1.1 %d %b\r\n%b\r\n" % (status, reason, _encode_fields(headers))
