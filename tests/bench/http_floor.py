"""The HTTP floor: the least an HTTP-aware gateway does, on trio, to compare cal against.

Usage: python tests/bench/http_floor.py LISTEN_PORT TARGET_PORT

Per client connection, one keep-alive connection to the mock. For each request it does what
any gateway that routes on the body must do before the upstream sees a byte: find the end of
the head, split it into lines and header fields, read the body by its content-length, decode
the JSON body for `model` and `stream` (msgspec, the fields cal routes on), and write a new head
(the client's fields minus the hop-by-hop ones and the length, plus the upstream's host and the
length) with the body. The answer's head is parsed the same way and passed on; its body is
relayed as it arrives, chunk framing and all, until its length is reached or its last chunk
seen. Nothing else: no capture, no record, no retry, no error answers of its own (a request it
cannot read closes the connection), no translation. `pipe.py` is the floor without HTTP.
"""

from __future__ import annotations

import msgspec
import trio
from pipe import run

_END = b"\r\n\r\n"
_LAST_CHUNK = b"0\r\n\r\n"
_DROP_FROM_REQUEST = frozenset(
    {b"host", b"content-length", b"connection", b"keep-alive", b"transfer-encoding", b"te"}
)
_DROP_FROM_ANSWER = frozenset({b"connection", b"keep-alive"})


class _View(msgspec.Struct):
    model: str | None = None
    stream: bool = False


_decode_view = msgspec.json.Decoder(_View).decode


class _Side:
    """One socket and the bytes received from it but not consumed yet."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def head(self) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
        """(first line, header fields with lower-case names), or None at the end."""
        while (end := self.buffer.find(_END)) < 0:
            data = await self.stream.receive_some(65536)
            if not data:
                return None
            self.buffer += data
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        del self.buffer[: end + 4]
        fields = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields.append((name.strip().lower(), value.strip()))
        return lines[0], fields

    async def take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.buffer += data
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def some(self) -> bytes:
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            return data
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError
        return data


def _length(fields: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in fields:
        if name == b"content-length":
            return int(value)
    return None


def _encode(first: bytes, fields: list[tuple[bytes, bytes]]) -> bytes:
    return b"\r\n".join([first, *(name + b": " + value for name, value in fields)]) + _END


async def _exchange(client: _Side, upstream: _Side, host: bytes) -> bool:
    """One request and its answer; False when the client is done."""
    request = await client.head()
    if request is None:
        return False
    line, fields = request
    body = await client.take(_length(fields) or 0)
    _decode_view(body)  # what a gateway routes on: the model, and whether it streams
    out = [(n, v) for n, v in fields if n not in _DROP_FROM_REQUEST]
    out += [(b"host", host), (b"content-length", b"%d" % len(body))]
    await upstream.stream.send_all(_encode(line, out) + body)
    answer = await upstream.head()
    if answer is None:
        raise EOFError
    status, answer_fields = answer
    chunked = any(n == b"transfer-encoding" for n, _ in answer_fields)
    length = _length(answer_fields)
    kept = [(n, v) for n, v in answer_fields if n not in _DROP_FROM_ANSWER]
    head = _encode(status, kept)
    if not chunked:
        await client.stream.send_all(head + await upstream.take(length or 0))
        return True
    data = await upstream.some()
    await client.stream.send_all(head + data)
    tail = data[-5:]
    while not tail.endswith(_LAST_CHUNK):  # the last chunk (enough for the mock's SSE bodies)
        data = await upstream.some()
        await client.stream.send_all(data)
        tail = (tail + data)[-5:]
    return True


async def _serve(stream: trio.SocketStream, upstream: trio.SocketStream, target: int) -> None:
    client, side = _Side(stream), _Side(upstream)
    host = b"127.0.0.1:%d" % target
    try:
        while await _exchange(client, side, host):
            pass
    except (EOFError, ValueError, msgspec.DecodeError, trio.BrokenResourceError):
        return


if __name__ == "__main__":
    run(_serve, "http floor")
