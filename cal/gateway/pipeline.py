"""One exchange from ingress to the sinks: read, check, choose an endpoint, forward, record.

Every exchange ends with a response (or a recorded disconnect) and an Exchange handed to the
runtime's sinks, whatever happened in between.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import msgspec
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange, Usage
from cal.config import Settings, secret_from_env
from cal.formats import parse_format
from cal.formats.errors import ErrorKind
from cal.formats.routes import ClientRoute
from cal.formats.upstream import api_path, join_url
from cal.gateway.asgi import JSON, ClientGone, GatewayRequest, RequestRefused
from cal.gateway.clients import identify_client
from cal.gateway.headers import Header, decode_headers, strip_query_key, upstream_headers
from cal.gateway.legs import Leg, PassThroughLeg
from cal.gateway.pump import run_attempt
from cal.gateway.registry import EndpointRegistry
from cal.gateway.translated import (
    TranslatedLeg,
    client_credential,
    translated_headers,
    translation_context,
)
from cal.gateway.upstream import UpstreamFailure, UpstreamPool
from cal.routing.model import Endpoint
from cal.service import ExchangeSink
from cal.telemetry.traceparent import child_span_id, format_traceparent
from cal.transform import RouteUnavailable, TranslationError, lookup
from cal.transform.ir import Usage as IrUsage
from cal.usage.estimate import estimate_input_tokens
from cal.usage.extract import usage_from_body, usage_from_events

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
        if route.operation == "count_tokens" and endpoint.format != route.format:
            await _estimate_tokens(request, route, exchange, body)
            return
        if endpoint.format == route.format:
            prepared = _prepare_pass_through(route, exchange, endpoint, body)
        else:
            prepared = _prepare_translated(route, exchange, endpoint, body)
        await _forward(request, exchange, endpoint, prepared, deps)
    except RequestRefused as refused:
        exchange.error = ErrorInfo(refused.exchange_kind, refused.message)
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
    """`body` with its top-level `model` replaced and every other byte kept.

    When the `"model": value` pair occurs once, only the value's bytes are swapped (whitespace
    and key order stay); when it is ambiguous (the same pair nested too) or absent, the top-level
    object is re-encoded from `dict[str, msgspec.Raw]`, which still keeps every value verbatim.
    """
    fields = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    new = msgspec.json.encode(model)
    old = fields.get("model")
    if old is not None:
        matches = list(re.finditer(rb'"model"\s*:\s*' + re.escape(bytes(old)), body))
        if len(matches) == 1:
            end = matches[0].end()
            return body[: end - len(old)] + new + body[end:]
    fields["model"] = msgspec.Raw(new)
    return msgspec.json.encode(fields)


class _Prepared:
    """An upstream call ready to send, and the leg that turns its answer into the client's."""

    def __init__(self, url: str, headers: list[Header], body: bytes, leg: Leg) -> None:
        self.url, self.headers, self.body, self.leg = url, headers, body, leg


def _prepare_pass_through(
    route: ClientRoute, exchange: Exchange, endpoint: Endpoint, body: bytes
) -> _Prepared:
    key = endpoint_key(endpoint)
    model = endpoint.map_model(exchange.model)
    path = route.upstream_path
    if route.format == "gemini" and route.operation == "generate":
        path = api_path("gemini", model=model, stream=bool(route.path_stream))
        path = path.partition("?")[0]  # the client's own query (alt=sse) follows
    elif model != exchange.model and model is not None:
        body = _with_model(body, model)
    query = exchange.query if not key else strip_query_key(exchange.query)
    url = join_url(endpoint.url, path, query)
    headers = upstream_headers(exchange.client_headers, endpoint.format, key)
    return _Prepared(url, headers, body, PassThroughLeg(exchange, route.format))


def _prepare_translated(
    route: ClientRoute, exchange: Exchange, endpoint: Endpoint, body: bytes
) -> _Prepared:
    try:
        translation = lookup(route.format, endpoint.format)
    except RouteUnavailable as exc:
        raise RequestRefused(
            "invalid_request",
            f"endpoint {endpoint.name!r} speaks {endpoint.format}: {exc}",
            exchange_kind="translation",
        ) from None
    model = endpoint.map_model(exchange.model)
    ctx = translation_context(exchange, model)
    try:
        upstream_body = translation.translate_request(body, ctx)
    except TranslationError as exc:
        exchange.notes += ctx.notes
        kind: ErrorKind = "request_too_large" if exc.status_hint == 413 else "invalid_request"
        raise RequestRefused(kind, str(exc), exchange_kind="translation") from None
    exchange.transform_input, exchange.transform_output = body, upstream_body
    key = endpoint_key(endpoint) or client_credential(exchange.client_headers, exchange.query)
    path = api_path(endpoint.format, model=model, stream=exchange.stream)
    url = join_url(endpoint.url, path)
    headers = translated_headers(exchange.client_headers, endpoint.format, key, exchange.stream)
    return _Prepared(url, headers, upstream_body, TranslatedLeg(exchange, translation, ctx))


async def _forward(
    request: GatewayRequest,
    exchange: Exchange,
    endpoint: Endpoint,
    prepared: _Prepared,
    deps: GatewayDeps,
) -> None:
    index = len(exchange.attempts)
    # the upstream sees this attempt's span as its parent (the exporter emits it with this id)
    span = child_span_id(exchange.span_id, "attempt", index)
    headers = [h for h in prepared.headers if h[0] != "traceparent"]
    headers.append(("traceparent", format_traceparent(exchange.trace_id, span)))
    attempt = Attempt(
        index=index,
        endpoint=endpoint.name,
        upstream_format=endpoint.format,
        url=prepared.url,
        started_ms=request.ms(),
        request_headers=headers,
        request_body=prepared.body if prepared.body is not exchange.client_body else None,
    )
    exchange.attempts.append(attempt)
    client = deps.pool.client_for(endpoint)
    upstream_request = client.build_request(
        "POST", prepared.url, headers=headers, content=prepared.body
    )
    leg = prepared.leg
    try:
        with trio.move_on_after(deps.settings.total_timeout_s) as deadline:
            try:
                await run_attempt(request, exchange, attempt, client, upstream_request, leg)
            except UpstreamFailure as failure:
                attempt.error = ErrorInfo(failure.kind, failure.message)
                kind: ErrorKind = "timeout" if failure.kind == "timeout" else "bad_gateway"
                raise RequestRefused(kind, failure.message, exchange_kind=failure.kind) from None
        if deadline.cancelled_caught:
            await _deadline_passed(request, exchange, attempt, leg, deps.settings)
    finally:
        _finish_usage(exchange, leg)


async def _deadline_passed(
    request: GatewayRequest, exchange: Exchange, attempt: Attempt, leg: Leg, settings: Settings
) -> None:
    message = f"the upstream call took longer than {settings.total_timeout_s:g} s"
    attempt.error = ErrorInfo("timeout", message)
    if not request.response_started:
        raise RequestRefused("timeout", message, exchange_kind="timeout")
    exchange.error = ErrorInfo("timeout", message)
    await request.body(leg.fail("timeout", message, request.ms()), more=False)


def _finish_usage(exchange: Exchange, leg: Leg) -> None:
    """Normalised usage on the exchange: from the translator, or read from what passed through."""
    usage: IrUsage | None = None
    if isinstance(leg, TranslatedLeg):
        usage = leg.usage
        exchange.notes += leg.notes
    elif exchange.status is not None and exchange.status < 300 and exchange.upstream_format:
        fmt = parse_format(exchange.upstream_format)
        if exchange.raw_events:
            usage = usage_from_events(fmt, (e.data for e in exchange.raw_events))
        elif exchange.response_body:
            usage = usage_from_body(fmt, exchange.response_body)
    if usage is not None:
        exchange.usage = Usage(
            input_tokens=usage.uncached_in,
            output_tokens=usage.out_total,
            cache_read_tokens=usage.cache_read,
            cache_write_tokens=usage.cache_write,
            reasoning_tokens=usage.reasoning,
            source="upstream",
        )


async def _estimate_tokens(
    request: GatewayRequest, route: ClientRoute, exchange: Exchange, body: bytes
) -> None:
    """A token count the endpoint's API cannot answer: a local estimate, flagged as one."""
    tokens = estimate_input_tokens(body)
    if route.format == "gemini":
        payload: dict[str, object] = {"totalTokens": tokens}
    elif route.format == "openai-responses":
        payload = {"object": "response.input_tokens", "input_tokens": tokens}
    else:
        payload = {"input_tokens": tokens}
    out = msgspec.json.encode(payload)
    exchange.usage = Usage(input_tokens=tokens, source="estimated")
    exchange.notes.append("token count estimated locally: the endpoint's API has no count route")
    exchange.response_body = out
    await request.respond(200, [(b"content-type", JSON), (b"x-cal-token-count", b"estimated")], out)
    exchange.status = 200
