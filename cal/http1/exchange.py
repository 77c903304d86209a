"""One HTTP request's ASGI `receive` and `send` over a connection's BufferedStream.

- `receive` reads the body only as the app asks for it (content-length or chunked), answering
  `expect: 100-continue` on the first call. Once the body is delivered, it waits for the client to
  leave and returns `http.disconnect`, also once the response is complete (as hypercorn does).
- `send` holds `http.response.start` until the first body message: a whole response goes out in
  one write, with a content-length when the app gave none; a streamed one is chunked (HTTP/1.1)
  and each body message is written at once. `date` is added, `server` is not.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import trio

from cal.http1.stream import BufferedStream, ClientDisconnected
from cal.http1.wire import LAST_CHUNK, ChunkedDecoder, encode_chunk, encode_response_head

Message = MutableMapping[str, Any]
Headers = list[tuple[bytes, bytes]]

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PIPELINE_BYTES = 65536
"""While waiting for a disconnect, read at most this much of the client's next requests."""
MAX_WHOLE_BODY = 8 * 1024 * 1024
"""A content-length body up to this size comes in one `http.request` message (the gateway reads
whole bodies anyway); a larger one comes as it arrives."""

_NO_BODY, _RAW, _CHUNKED = 0, 1, 2


class HttpExchange:
    """The request side (body still to read) and the response side (what was written) of one
    request; `keep_alive` says whether the connection can serve another one afterwards."""

    __slots__ = (
        "_mode",
        "_watch",
        "body_done",
        "complete",
        "date",
        "decoder",
        "expect_continue",
        "head_only",
        "head_written",
        "headers",
        "http11",
        "io",
        "keep_alive",
        "remaining",
        "status",
    )

    def __init__(
        self,
        io: BufferedStream,
        date: Callable[[], bytes],
        *,
        http11: bool,
        head_only: bool,
        keep_alive: bool,
        length: int,
        chunked: bool,
        expect_continue: bool,
    ) -> None:
        self.io, self.date = io, date
        self.http11, self.head_only, self.keep_alive = http11, head_only, keep_alive
        self.remaining = length
        self.decoder = ChunkedDecoder() if chunked else None
        self.expect_continue = expect_continue
        self.body_done = False
        self.status = 0
        self.headers: Headers | None = None
        self.head_written = False
        self.complete = False
        self._mode = _RAW
        self._watch: trio.CancelScope | None = None

    # ---- receive -------------------------------------------------------------------------

    async def receive(self) -> Message:
        if not self.body_done and not self.io.gone:
            return await self._body_part()
        if self.complete or self.io.gone:
            return {"type": "http.disconnect"}
        with trio.CancelScope() as self._watch:  # cancelled when the response completes
            try:
                while len(self.io.buffer) < PIPELINE_BYTES:
                    if not await self.io.fill():
                        break
                else:
                    await trio.sleep_forever()
            finally:
                self._watch = None
        return {"type": "http.disconnect"}

    async def _body_part(self) -> Message:
        io = self.io
        if self.expect_continue:
            self.expect_continue = False
            if not self.head_written and self.headers is None and not self._nothing_to_read():
                try:
                    await io.write(CONTINUE)
                except ClientDisconnected:
                    return {"type": "http.disconnect"}
        buffer = io.buffer
        decoder = self.decoder
        if decoder is None:
            if self.remaining == 0:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.remaining <= MAX_WHOLE_BODY:  # in one message: one buffer, no joins
                body = await io.take(self.remaining)
                if body is None:
                    return {"type": "http.disconnect"}
                self.remaining = 0
                self.body_done = True
                return {"type": "http.request", "body": body, "more_body": False}
            if not buffer and not await io.fill():
                return {"type": "http.disconnect"}
            if len(buffer) <= self.remaining:
                body = bytes(buffer)
                buffer.clear()
            else:
                body = bytes(buffer[: self.remaining])
                del buffer[: self.remaining]
            self.remaining -= len(body)
            self.body_done = self.remaining == 0
            return {"type": "http.request", "body": body, "more_body": not self.body_done}
        while True:
            if buffer:
                pieces = decoder.feed(bytes(buffer))
                buffer.clear()
                if decoder.done:
                    buffer += decoder.rest
                    self.body_done = True
                if pieces or self.body_done:
                    body = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                    return {"type": "http.request", "body": body, "more_body": not self.body_done}
            if not await io.fill():
                return {"type": "http.disconnect"}

    def _nothing_to_read(self) -> bool:
        return self.decoder is None and self.remaining == 0

    async def discard_body(self, max_bytes: int, timeout_s: float) -> bool:
        """Read and drop what the app left of the body; False when that is too much or too slow."""
        with trio.move_on_after(timeout_s):
            while not self.body_done:
                if self.io.gone or self.remaining > max_bytes:
                    return False
                message = await self._body_part()
                if message["type"] == "http.disconnect":
                    return False
                max_bytes -= len(message["body"])
            return True
        return False

    # ---- send ----------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            await self._body(message.get("body", b""), message.get("more_body", False))
        elif kind == "http.response.start":
            if self.headers is not None:
                raise RuntimeError("http.response.start sent twice")
            self.status = int(message["status"])
            self.headers = list(message.get("headers", ()))
        else:
            raise ValueError(f"unexpected ASGI message {kind!r} on an http connection")

    async def _body(self, body: bytes, more: bool) -> None:
        if self.complete:
            return
        if self.io.gone:
            raise ClientDisconnected("the client disconnected")
        if not self.head_written:
            data = self._head(len(body), more)
            self.head_written = True
        else:
            data = b""
        if self.head_only or self._mode == _NO_BODY:
            pass
        elif self._mode == _CHUNKED:
            if body:
                data += encode_chunk(body)
            if not more:
                data += LAST_CHUNK
        elif body:
            data = data + body if data else body
        if data:
            await self.io.write(data)
        if not more:
            self.complete = True
            if self._watch is not None:
                self._watch.cancel()

    def _head(self, first_length: int, more: bool) -> bytes:
        """The response head, choosing the framing from the app's headers and the first body."""
        if self.headers is None:
            raise RuntimeError("http.response.body before http.response.start")
        headers = self.headers
        status = self.status
        has_length = app_chunked = says_close = False
        for name, value in headers:
            lowered = name.lower()
            if lowered == b"content-length":
                has_length = True
            elif lowered == b"connection":
                says_close = b"close" in value.lower()
            elif lowered == b"transfer-encoding":
                app_chunked = True
        if app_chunked:  # the framing is ours to choose
            headers = [(k, v) for k, v in headers if k.lower() != b"transfer-encoding"]
        headers.append((b"date", self.date()))
        if status < 200 or status in (204, 304):
            self._mode = _NO_BODY
        elif has_length:
            self._mode = _RAW
        elif not more:
            headers.append((b"content-length", b"%d" % first_length))
        elif self.http11:
            self._mode = _CHUNKED
            headers.append((b"transfer-encoding", b"chunked"))
        else:
            self.keep_alive = False  # HTTP/1.0 stream: the end of the body is the close
        if says_close:
            self.keep_alive = False
        elif not self.keep_alive:
            headers.append((b"connection", b"close"))
        return encode_response_head(status, headers)


def plain_response(status: int, date: bytes, text: bytes = b"") -> bytes:
    """A whole response the server sends on its own (400, 431, 500), always closing."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(text)),
        (b"date", date),
        (b"connection", b"close"),
    ]
    return encode_response_head(status, headers) + text
