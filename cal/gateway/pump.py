"""One upstream attempt: send, then relay the answer to the client through a Leg, event by event.

Nothing is buffered: each upstream chunk is handed to the client as soon as the leg returns it,
and recorded after it was sent. The client's response starts with the first bytes the leg
returns, so an attempt that breaks before that can still be retried. An upstream error answer
(4xx/5xx) is not sent: it is returned, and the attempt loop decides whether the client gets it.
A broken upstream mid-stream ends the client's stream with an in-band error in its own format.
"""

from __future__ import annotations

import msgspec
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange
from cal.gateway.asgi import GatewayRequest
from cal.gateway.headers import Header
from cal.gateway.legs import Leg, RawHeaders
from cal.gateway.upstream import MAPPED_CLIENT_ERRORS, UpstreamCall, UpstreamFailure
from cal.http1.client import HttpClient, Response


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


async def _next_chunk(response: Response, idle_s: float) -> bytes | None:
    """The next body chunk (None at the end); UpstreamFailure after `idle_s` of silence. A chunk
    already received is taken without a cancel scope: the idle timeout only bounds waits."""
    with MAPPED_CLIENT_ERRORS:
        chunk = response.piece_at_hand()
    if chunk is not None:
        return chunk
    done = False
    with trio.move_on_after(idle_s):
        with MAPPED_CLIENT_ERRORS:
            chunk = await response.next_piece()
            done = chunk is None
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
    parts: list[bytes] = []
    while (chunk := await _next_chunk(response, idle_s)) is not None:
        parts.append(chunk)
    return b"".join(parts)


async def run_attempt(
    request: GatewayRequest,
    exchange: Exchange,
    attempt: Attempt,
    client: HttpClient,
    call: UpstreamCall,
    leg: Leg,
    idle_s: float,
    deadline: tuple[trio.CancelScope, float],
) -> HeldError | None:
    """Carry out `attempt`: None when the answer went to the client, a HeldError for an upstream
    error answer (nothing sent); raises UpstreamFailure when nothing reached the client.

    `deadline`: the attempt's cancel scope, whose deadline bounds the wait for the answer's
    head, and the deadline it gets once the head is here (the attempt's total): one scope for
    both, as the request's way upstream is its hottest path."""
    attempt.sent_ms = request.ms()
    with MAPPED_CLIENT_ERRORS:
        response = await client.send(
            call.method,
            call.url,
            call.headers,
            call.body,
            connect_timeout_s=call.connect_timeout_s,
            waiting=request.watch,
        )
    scope, total_at = deadline
    scope.deadline = total_at
    try:
        status = attempt.status = response.status
        attempt.response_headers = response.headers
        attempt.ttfb_ms = request.ms() - attempt.started_ms
        if status < 400 and _is_event_stream(response):
            await _relay_stream(request, exchange, response, leg, idle_s)
            return None
        data = await _read_all(response, idle_s)
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


async def _relay_stream(
    request: GatewayRequest,
    exchange: Exchange,
    response: Response,
    leg: Leg,
    idle_s: float,
) -> None:
    """Each chunk goes to the client as the leg turns it, and is recorded once it has gone."""
    headers = leg.stream_headers(response.headers)
    try:
        while (chunk := await _next_chunk(response, idle_s)) is not None:
            t_ms = request.ms()
            out = leg.feed(chunk, t_ms)
            try:
                if out:
                    await _send(request, exchange, response.status, headers, out, more=True)
                    if exchange.ttfb_ms is None:
                        exchange.ttfb_ms = t_ms
            finally:
                leg.record(chunk, t_ms)
        tail = leg.finish(request.ms())
    except UpstreamFailure as failure:
        if not request.response_started:
            raise  # nothing reached the client: the attempt loop may try again
        exchange.error = ErrorInfo(failure.kind, failure.message)
        tail = leg.fail("bad_gateway", failure.message, request.ms())
    await _send(request, exchange, response.status, headers, tail, more=False)


async def _send(
    request: GatewayRequest,
    exchange: Exchange,
    status: int,
    headers: RawHeaders,
    data: bytes,
    *,
    more: bool,
) -> None:
    """Stream bytes to the client, starting its response with the first ones."""
    if request.response_started:
        await request.body(data, more=more)
        return
    exchange.status = status
    try:
        await request.start(status, headers)
        await request.body(data, more=more)
    finally:  # recorded once the client has its first bytes, not on their way
        exchange.response_headers = [(k.decode(), v.decode()) for k, v in headers]


def error_text(body: bytes, limit: int = 300) -> str:
    """The start of an error body, for records and reasons."""
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")
