"""One upstream attempt: send, then relay the answer to the client through a Leg, event by event.

Nothing is buffered: each upstream chunk is handed to the client as soon as the leg returns it,
and recorded after it was sent. A broken upstream mid-stream ends the client's stream with an
in-band error in its own format; before the first byte it is an HTTP error.
"""

from __future__ import annotations

import httpx
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange
from cal.gateway.asgi import GatewayRequest
from cal.gateway.legs import Leg
from cal.gateway.upstream import UpstreamFailure, mapped_httpx_errors


def _is_event_stream(response: httpx.Response) -> bool:
    content_type: str = response.headers.get("content-type", "")
    return content_type.startswith("text/event-stream")


async def run_attempt(
    request: GatewayRequest,
    exchange: Exchange,
    attempt: Attempt,
    client: httpx.AsyncClient,
    upstream_request: httpx.Request,
    leg: Leg,
) -> None:
    """Carry out `attempt`; raises UpstreamFailure when nothing reached the client yet."""
    with mapped_httpx_errors():
        response = await client.send(upstream_request, stream=True)
    try:
        attempt.status = response.status_code
        attempt.response_headers = response.headers.multi_items()
        attempt.ttfb_ms = request.ms() - attempt.started_ms
        if response.status_code < 400 and _is_event_stream(response):
            await _relay_stream(request, exchange, response, leg)
        else:
            with mapped_httpx_errors():
                data = await response.aread()
            attempt.response_body = data
            status, headers, body = leg.whole(response.status_code, data, attempt.response_headers)
            exchange.response_body = body
            exchange.status = status
            exchange.response_headers = [(k.decode(), v.decode()) for k, v in headers]
            if status >= 400:
                exchange.error = ErrorInfo("upstream_status", _error_text(data), status)
            await request.respond(status, headers, body)
            exchange.ttfb_ms = request.ms()
    finally:
        attempt.duration_ms = request.ms() - attempt.started_ms
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            await response.aclose()  # also when the client went away and we are cancelled


async def _relay_stream(
    request: GatewayRequest, exchange: Exchange, response: httpx.Response, leg: Leg
) -> None:
    headers = leg.stream_headers(response.headers.multi_items())
    exchange.status = response.status_code
    exchange.response_headers = [(k.decode(), v.decode()) for k, v in headers]
    await request.start(response.status_code, headers)
    try:
        with mapped_httpx_errors():
            async for chunk in response.aiter_bytes():
                t_ms = request.ms()
                out = leg.feed(chunk, t_ms)
                if out:
                    await request.body(out, more=True)
                    if exchange.ttfb_ms is None:
                        exchange.ttfb_ms = t_ms
        tail = leg.finish(request.ms())
    except UpstreamFailure as failure:
        exchange.error = ErrorInfo(failure.kind, failure.message)
        tail = leg.fail("bad_gateway", failure.message, request.ms())
    await request.body(tail, more=False)


def _error_text(body: bytes, limit: int = 300) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")
