"""The raw ASGI side of one gateway request: reading the body, sending responses.

Every response the gateway sends carries `X-CAL-Request-Id` and `X-CAL-Obs-Ref` (DESIGN §4).
`send` failures (the client went away) surface as ClientGone, so the pipeline can cancel the
upstream call instead of relying on `http.disconnect` alone (cal/http1 on trio).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

from cal.capture.model import ErrorKindName
from cal.formats import ApiFormat
from cal.formats.errors import ErrorKind, error_body, error_status

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]

JSON = b"application/json"


def new_request_id() -> str:
    """A request's id: `req_` and 96 random bits in hex (every record has one, WebSocket turns
    included)."""
    return "req_" + os.urandom(12).hex()


class ClientGone(Exception):
    """The client disconnected; nothing more can be sent."""


class RequestRefused(Exception):
    """A request the gateway answers with an error in the client's format (before any byte)."""

    def __init__(
        self, kind: ErrorKind, message: str, *, exchange_kind: ErrorKindName = "client_error"
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.exchange_kind = exchange_kind


class GatewayRequest:
    """One request's ASGI channel plus the ids and the clock it is measured with."""

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, trace_id: str
    ) -> None:
        self.scope, self._receive, self._send = scope, receive, send
        self.request_id, self.trace_id = request_id, trace_id
        self.t0 = time.perf_counter()
        self.started_at = time.time()
        self.response_started = False
        self.response_status: int | None = None
        self.response_complete = False
        self.disconnected = trio.Event()
        self._watch_in: trio.Nursery | None = None

    def ms(self) -> float:
        """Milliseconds since the request arrived."""
        return (time.perf_counter() - self.t0) * 1000.0

    def id_headers(self) -> RawHeaders:
        return [
            (b"x-cal-request-id", self.request_id.encode()),
            (b"x-cal-obs-ref", f"{self.trace_id}/{self.request_id}".encode()),
        ]

    async def read_body(self, limit: int) -> bytes:
        """The whole request body; RequestRefused(413) past `limit` bytes."""
        for name, value in self.scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise RequestRefused("request_too_large", _too_large(limit))
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected.set()
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestRefused("request_too_large", _too_large(limit))
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks) if len(chunks) != 1 else chunks[0]

    def watch_from(self, nursery: trio.Nursery) -> None:
        """Where `watch` starts its watcher: a disconnect cancels the whole of `nursery`."""
        self._watch_in = nursery

    def watch(self) -> None:
        """Start watching for the client's disconnect (once: later calls do nothing), after
        the body is read (the watcher reads the same channel). The request calls it when it
        starts to wait (on the upstream, or a retry's backoff), so starting the watcher's task
        is not on the way to the upstream."""
        nursery, self._watch_in = self._watch_in, None
        if nursery is not None:
            nursery.start_soon(self._watch_disconnect, nursery.cancel_scope)

    async def _watch_disconnect(self, scope: trio.CancelScope) -> None:
        """Cancel `scope` when the client disconnects."""
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if not self.response_complete:  # the server also says so after a full response
                    self.disconnected.set()
                    scope.cancel()
                return

    async def start(self, status: int, headers: RawHeaders) -> None:
        self.response_started = True
        self.response_status = status
        await self._checked_send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": headers + self.id_headers(),
            }
        )

    async def body(self, data: bytes, *, more: bool) -> None:
        # set first: the server may report http.disconnect while the last send is still in progress
        self.response_complete = not more
        await self._checked_send({"type": "http.response.body", "body": data, "more_body": more})

    async def respond(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """A whole response with a content-length."""
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await self.start(status, headers)
        await self.body(body, more=False)

    async def respond_error(self, fmt: ApiFormat, kind: ErrorKind, message: str) -> bytes:
        """An error in the client's own API shape; returns the body sent."""
        body = error_body(fmt, kind, message)
        await self.respond(error_status(fmt, kind), [(b"content-type", JSON)], body)
        return body

    async def _checked_send(self, message: Message) -> None:
        if self.disconnected.is_set():
            raise ClientGone
        try:
            await self._send(message)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.disconnected.set()
            raise ClientGone from exc


def _too_large(limit: int) -> str:
    return f"request body is larger than the gateway's limit of {limit} bytes"
