"""One exchange from ingress to the sinks: read, check, choose an endpoint, forward, record.

Every exchange ends with a response (or a recorded disconnect) and an Exchange handed to the
runtime's sinks, whatever happened in between.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange
from cal.config import Settings, secret_from_env
from cal.formats.routes import ClientRoute
from cal.formats.upstream import api_path, join_url
from cal.gateway.asgi import ClientGone, GatewayRequest, RequestRefused
from cal.gateway.clients import identify_client
from cal.gateway.headers import decode_headers, strip_query_key, upstream_headers
from cal.gateway.legs import PassThroughLeg
from cal.gateway.pump import run_attempt
from cal.gateway.registry import EndpointRegistry
from cal.gateway.upstream import UpstreamFailure, UpstreamPool
from cal.routing.model import Endpoint
from cal.service import ExchangeSink

log = logging.getLogger(__name__)


class _BodyView(msgspec.Struct):
    """The two fields the gateway reads from any request body; everything else stays bytes."""

    model: str | None = None
    stream: bool = False


_decode_view = msgspec.json.Decoder(_BodyView).decode


class GatewayDeps:
    """What the gateway needs from the runtime."""

    def __init__(
        self,
        settings: Settings,
        registry: EndpointRegistry,
        pool: UpstreamPool,
        sinks: Sequence[ExchangeSink],
        run_id: str,
    ) -> None:
        self.settings, self.registry, self.pool = settings, registry, pool
        self.sinks, self.run_id = list(sinks), run_id


def new_exchange(
    request: GatewayRequest, route: ClientRoute, span_id: str, parent: str | None, run_id: str
) -> Exchange:
    scope = request.scope
    headers = decode_headers(scope["headers"])
    client_name, session_id = identify_client(headers)
    return Exchange(
        request_id=request.request_id,
        trace_id=request.trace_id,
        span_id=span_id,
        parent_span_id=parent,
        run_id=run_id,
        started_at=request.started_at,
        method=scope["method"],
        path=scope["path"],
        query=scope["query_string"].decode("latin-1"),
        client_format=route.format,
        client_headers=headers,
        client_body=b"",
        source_tag=route.source_tag,
        client_name=client_name,
        session_id=session_id,
    )


async def handle_generate(
    request: GatewayRequest, route: ClientRoute, exchange: Exchange, deps: GatewayDeps
) -> None:
    """Serve one model call (or token count); always hands the exchange to the sinks."""
    try:
        async with trio.open_nursery() as nursery:
            await _serve(request, route, exchange, deps, nursery)
            nursery.cancel_scope.cancel()
    except* ClientGone:
        pass
    finally:
        if request.disconnected.is_set() and exchange.error is None:
            exchange.error = ErrorInfo("client_disconnected", "the client disconnected")
        if exchange.status is None:
            exchange.status = request.response_status
        exchange.duration_ms = request.ms()
        for sink in deps.sinks:
            sink.submit_nowait(exchange)


async def _serve(
    request: GatewayRequest,
    route: ClientRoute,
    exchange: Exchange,
    deps: GatewayDeps,
    nursery: trio.Nursery,
) -> None:
    try:
        body = await request.read_body(deps.settings.max_request_bytes)
        exchange.client_body = body
        try:
            view = _decode_view(body)
        except msgspec.DecodeError:
            raise RequestRefused("invalid_request", "request body is not valid JSON") from None
        except msgspec.ValidationError as exc:
            raise RequestRefused("invalid_request", f"request body is not usable: {exc}") from None
        exchange.model = route.path_model or view.model
        exchange.stream = route.path_stream if route.path_stream is not None else view.stream
        endpoint = deps.registry.snapshot.choose()
        if endpoint is None:
            raise RequestRefused(
                "unavailable",
                "no enabled endpoint: add one with `cal endpoint add NAME --url URL --format FMT`",
                exchange_kind="no_endpoint",
            )
        exchange.endpoint, exchange.upstream_format = endpoint.name, endpoint.format
        exchange.route = f"{route.format}->{endpoint.format}"
        nursery.start_soon(request.watch_disconnect, nursery.cancel_scope)
        if endpoint.format != route.format:
            raise RequestRefused(
                "invalid_request",
                f"endpoint {endpoint.name!r} speaks {endpoint.format}, and this cal cannot "
                f"translate {route.format} to it yet",
                exchange_kind="translation",
            )
        await _pass_through(request, route, exchange, endpoint, body, deps)
    except RequestRefused as refused:
        exchange.error = ErrorInfo(refused.exchange_kind, refused.message)  # type: ignore[arg-type]
        if not request.response_started:
            exchange.response_body = await request.respond_error(
                route.format, refused.kind, refused.message
            )
            exchange.status = request.response_status


def endpoint_key(endpoint: Endpoint) -> str | None:
    if endpoint.api_key:
        return endpoint.api_key
    return secret_from_env(endpoint.api_key_env) if endpoint.api_key_env else None


def _with_model(body: bytes, model: str) -> bytes:
    """`body` with only its top-level `model` replaced; every other byte of every value kept."""
    fields = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    fields["model"] = msgspec.Raw(msgspec.json.encode(model))
    return msgspec.json.encode(fields)


async def _pass_through(
    request: GatewayRequest,
    route: ClientRoute,
    exchange: Exchange,
    endpoint: Endpoint,
    body: bytes,
    deps: GatewayDeps,
) -> None:
    key = endpoint_key(endpoint)
    model = endpoint.map_model(exchange.model)
    path = route.upstream_path
    if route.format == "gemini":
        path = api_path("gemini", model=model, stream=bool(route.path_stream))
        path = path.partition("?")[0]  # the client's own query (alt=sse) follows
    elif model != exchange.model and model is not None:
        body = _with_model(body, model)
    query = exchange.query if not key else strip_query_key(exchange.query)
    url = join_url(endpoint.url, path, query)
    headers = upstream_headers(exchange.client_headers, endpoint.format, key)
    attempt = Attempt(
        index=0,
        endpoint=endpoint.name,
        upstream_format=endpoint.format,
        url=url,
        started_ms=request.ms(),
        request_headers=headers,
        request_body=body if body is not exchange.client_body else None,
    )
    exchange.attempts.append(attempt)
    client = deps.pool.client_for(endpoint)
    upstream_request = client.build_request("POST", url, headers=headers, content=body)
    leg = PassThroughLeg(exchange, route.format)
    with trio.move_on_after(deps.settings.total_timeout_s) as deadline:
        try:
            await run_attempt(request, exchange, attempt, client, upstream_request, leg)
        except UpstreamFailure as failure:
            attempt.error = ErrorInfo(failure.kind, failure.message)  # type: ignore[arg-type]
            kind = "timeout" if failure.kind == "timeout" else "bad_gateway"
            raise RequestRefused(kind, failure.message, exchange_kind=failure.kind) from None
    if deadline.cancelled_caught:
        message = f"the upstream call took longer than {deps.settings.total_timeout_s:g} s"
        attempt.error = ErrorInfo("timeout", message)
        if request.response_started:
            exchange.error = ErrorInfo("timeout", message)
            await request.body(leg.fail("timeout", message, request.ms()), more=False)
        else:
            raise RequestRefused("timeout", message, exchange_kind="timeout")
