"""One upstream attempt: send, then relay the answer to the client through a Leg, event by event.

Nothing is buffered: each upstream chunk is handed to the client as soon as the leg returns it,
and recorded after it was sent. The client's response starts with the first bytes the leg
returns, so an attempt that breaks before that can still be retried. An upstream error answer
(4xx/5xx) is not sent: it is returned, and the attempt loop decides whether the client gets it.
A broken upstream mid-stream ends the client's stream with an in-band error in its own format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import msgspec
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange
from cal.gateway.asgi import GatewayRequest
from cal.gateway.headers import Header
from cal.gateway.legs import Leg, RawHeaders
from cal.gateway.upstream import MAPPED_CLIENT_ERRORS, UpstreamCall, UpstreamFailure
from cal.http1.client import HttpClient, Response


class AttemptTimeouts(msgspec.Struct, frozen=True):
    """Seconds: until the response headers, and between two chunks of the body."""

    first_byte_s: float
    idle_s: float


class HeldError(msgspec.Struct, frozen=True):
    """An upstream error answer nobody has seen yet."""

    status: int
    headers: list[Header]
    body: bytes


def _is_event_stream(response: Response) -> bool:
    for name, value in response.headers:
        if name == "content-type":
            return value.startswith("text/event-stream")
    return False


async def _open(
    client: HttpClient, call: UpstreamCall, first_byte_s: float, waiting: Callable[[], None]
) -> Response:
    response: Response | None = None
    with trio.move_on_after(first_byte_s):
        with MAPPED_CLIENT_ERRORS:
            response = await client.send(
                call.method,
                call.url,
                call.headers,
                call.body,
                connect_timeout_s=call.connect_timeout_s,
                waiting=waiting,
            )
    if response is None:
        raise UpstreamFailure("timeout", f"no answer from the upstream within {first_byte_s:g} s")
    return response


async def _next_chunk(chunks: AsyncIterator[bytes], idle_s: float) -> bytes | None:
    """The next body chunk (None at the end); UpstreamFailure after `idle_s` of silence."""
    done = False
    chunk: bytes | None = None
    with trio.move_on_after(idle_s):
        with MAPPED_CLIENT_ERRORS:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                done = True
    if done:
        return None
    if chunk is None:
        raise UpstreamFailure("timeout", f"the upstream sent nothing for {idle_s:g} s")
    return chunk


async def _read_all(response: Response, idle_s: float) -> bytes:
    with MAPPED_CLIENT_ERRORS:
        whole = response.read_buffered()
    if whole is not None:
        return whole
    chunks = response.iter_bytes()
    parts: list[bytes] = []
    while (chunk := await _next_chunk(chunks, idle_s)) is not None:
        parts.append(chunk)
    return b"".join(parts)


async def run_attempt(
    request: GatewayRequest,
    exchange: Exchange,
    attempt: Attempt,
    client: HttpClient,
    call: UpstreamCall,
    leg: Leg,
    timeouts: AttemptTimeouts,
) -> HeldError | None:
    """Carry out `attempt`: None when the answer went to the client, a HeldError for an upstream
    error answer (nothing sent); raises UpstreamFailure when nothing reached the client."""
    attempt.sent_ms = request.ms()
    response = await _open(client, call, timeouts.first_byte_s, request.watch)
    try:
        status = attempt.status = response.status
        attempt.response_headers = response.headers
        attempt.ttfb_ms = request.ms() - attempt.started_ms
        if status < 400 and _is_event_stream(response):
            await _relay_stream(request, exchange, response, leg, timeouts.idle_s)
            return None
        data = await _read_all(response, timeouts.idle_s)
        attempt.response_body = data
        if status >= 400:
            attempt.error = ErrorInfo("upstream_status", error_text(data), status)
            return HeldError(status, attempt.response_headers, data)
        await deliver(request, exchange, leg, HeldError(status, [], data), attempt)
        return None
    finally:
        attempt.duration_ms = request.ms() - attempt.started_ms
        response.close()  # synchronous: also when the client went away and we are cancelled


async def deliver(
    request: GatewayRequest, exchange: Exchange, leg: Leg, answer: HeldError, attempt: Attempt
) -> None:
    """Send a whole upstream answer (a success, or the error the loop settled on) to the client."""
    status, headers, body = leg.whole(answer.status, answer.body, attempt.response_headers)
    exchange.response_body = body
    exchange.status = status
    exchange.response_headers = [(k.decode(), v.decode()) for k, v in headers]
    if status >= 400:
        exchange.error = ErrorInfo("upstream_status", error_text(answer.body), status)
    await request.respond(status, headers, body)
    exchange.ttfb_ms = request.ms()


class _Relay:
    """Starts the client's response with its first bytes."""

    def __init__(
        self, request: GatewayRequest, exchange: Exchange, status: int, headers: RawHeaders
    ) -> None:
        self.request, self.exchange = request, exchange
        self.status, self.headers = status, headers

    async def send(self, data: bytes, *, more: bool) -> None:
        if self.request.response_started:
            await self.request.body(data, more=more)
            return
        self.exchange.status = self.status
        try:
            await self.request.start(self.status, self.headers)
            await self.request.body(data, more=more)
        finally:  # recorded once the client has its first bytes, not on their way
            self.exchange.response_headers = [(k.decode(), v.decode()) for k, v in self.headers]


async def _relay_stream(
    request: GatewayRequest,
    exchange: Exchange,
    response: Response,
    leg: Leg,
    idle_s: float,
) -> None:
    relay = _Relay(request, exchange, response.status, leg.stream_headers(response.headers))
    chunks = response.iter_bytes()
    try:
        while (chunk := await _next_chunk(chunks, idle_s)) is not None:
            t_ms = request.ms()
            out = leg.feed(chunk, t_ms)
            if out:
                await relay.send(out, more=True)
                if exchange.ttfb_ms is None:
                    exchange.ttfb_ms = t_ms
        tail = leg.finish(request.ms())
    except UpstreamFailure as failure:
        if not request.response_started:
            raise  # nothing reached the client: the attempt loop may try again
        exchange.error = ErrorInfo(failure.kind, failure.message)
        tail = leg.fail("bad_gateway", failure.message, request.ms())
    await relay.send(tail, more=False)


def error_text(body: bytes, limit: int = 300) -> str:
    """The start of an error body, for records and reasons."""
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")
