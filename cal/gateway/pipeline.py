"""One exchange from ingress to the sinks: read, check, choose an endpoint, forward, record.

Every exchange ends with a response (or a recorded disconnect) and an Exchange handed to the
runtime's sinks, whatever happened in between.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence

import msgspec
import trio

from cal.capture.model import ErrorInfo, Exchange, Usage
from cal.config import Settings
from cal.formats import ApiFormat, parse_format
from cal.formats.routes import ClientRoute
from cal.gateway.answer import record_answer
from cal.gateway.asgi import JSON, ClientGone, GatewayRequest, RequestRefused
from cal.gateway.clients import identify_client
from cal.gateway.failover import AttemptLoop, retry_policy
from cal.gateway.headers import decode_headers, header_value
from cal.gateway.health import RouteHealth, endpoint_keys
from cal.gateway.legs import Leg
from cal.gateway.prepare import with_model
from cal.gateway.registry import EndpointRegistry
from cal.gateway.translated import TranslatedLeg
from cal.gateway.upstream import UpstreamPool
from cal.routing.model import Endpoint
from cal.routing.resolve import PIN_HEADER, PinError, Resolution
from cal.service import ExchangeSink
from cal.store.ledger import exchange_cost
from cal.transform.passthrough import UnsealedAnthropicMessage
from cal.usage.calibration import Calibrator
from cal.usage.estimate import count_response_body, counted_tokens
from cal.usage.extract import summarize_body, summarize_events

log = logging.getLogger(__name__)


class _BodyView(msgspec.Struct):
    """The two fields the gateway reads from any request body; everything else stays bytes."""

    model: str | None = None
    stream: bool = False


class _AnthropicView(_BodyView):
    """An Anthropic body's view that also proves, in the same pass, that no message holds a
    reasoning envelope (so the pass-through need not scan the body for one)."""

    messages: list[UnsealedAnthropicMessage] = []


_decode_view = msgspec.json.Decoder(_BodyView).decode
_decode_anthropic_view = msgspec.json.Decoder(_AnthropicView).decode


def decode_view(fmt: ApiFormat, body: bytes) -> tuple[_BodyView, bool]:
    """(the model and stream fields, whether the body is known to hold no envelope).

    Raises RequestRefused for a body that is not JSON or whose two fields are unusable.
    """
    if fmt == "anthropic":
        try:
            return _decode_anthropic_view(body), True
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass  # an envelope or an unexpected shape: decided below and in prepare, as before
    try:
        return _decode_view(body), False
    except msgspec.DecodeError:
        raise RequestRefused("invalid_request", "request body is not valid JSON") from None
    except msgspec.ValidationError as exc:
        raise RequestRefused("invalid_request", f"request body is not usable: {exc}") from None


class GatewayDeps:
    """What the gateway needs from the runtime."""

    def __init__(
        self,
        settings: Settings,
        registry: EndpointRegistry,
        pool: UpstreamPool,
        sinks: Sequence[ExchangeSink],
        run_id: str,
        health: RouteHealth | None = None,
        calibrator: Calibrator | None = None,
    ) -> None:
        self.settings, self.registry, self.pool = settings, registry, pool
        self.sinks, self.run_id = list(sinks), run_id
        self.health = health or RouteHealth()
        """Credential health and rate-limit state, shared by every request of the runtime."""
        self.calibrator = calibrator or Calibrator()
        """Per-model token estimates, learnt from the real input counts of calls."""
        self.rng = random.Random()
        """The retry jitter's randomness (seeding one per request costs more than the request's
        own routing)."""
        self.retry_policy = retry_policy(settings)


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
            request.watch_from(nursery)  # started by request.watch() once the request waits
            await _serve(request, route, exchange, deps)
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
) -> None:
    try:
        body = await request.read_body(deps.settings.max_request_bytes)
        exchange.client_body = body
        exchange.body_read_ms = request.ms()
        view, unsealed = decode_view(route.format, body)
        resolution = _resolve(exchange, deps, route.path_model or view.model)
        exchange.model = resolution.model
        exchange.resolved_ms = request.ms()
        exchange.stream = route.path_stream if route.path_stream is not None else view.stream
        first = resolution.candidates[0]
        exchange.endpoint, exchange.upstream_format = first.name, first.format
        exchange.route = f"{route.format}->{first.format}"
        if route.operation == "count_tokens" and first.format != route.format:
            await _estimate_tokens(request, route, exchange, body, deps.calibrator)
            return
        await _forward(request, route, exchange, resolution, body, view.model, deps, unsealed)
    except RequestRefused as refused:
        exchange.error = ErrorInfo(refused.exchange_kind, refused.message)
        if not request.response_started:
            exchange.response_body = await request.respond_error(
                route.format, refused.kind, refused.message
            )
            exchange.status = request.response_status


def endpoint_key(endpoint: Endpoint) -> str | None:
    """The first key of the endpoint's pool (stored, or from its env var), or None."""
    keys = endpoint_keys(endpoint)
    return keys[0] if keys else None


_with_model = with_model


def _resolve(exchange: Exchange, deps: GatewayDeps, model: str | None) -> Resolution:
    snapshot = deps.registry.snapshot
    pin = header_value(exchange.client_headers, PIN_HEADER)
    try:
        resolution = snapshot.resolve(model, pin)
    except PinError as exc:
        raise RequestRefused("invalid_request", str(exc), exchange_kind="no_endpoint") from None
    if not resolution.candidates:
        raise RequestRefused(
            "unavailable",
            "no enabled endpoint: add one with `cal endpoint add NAME --url URL --format FMT`",
            exchange_kind="no_endpoint",
        )
    return resolution


async def _forward(
    request: GatewayRequest,
    route: ClientRoute,
    exchange: Exchange,
    resolution: Resolution,
    body: bytes,
    body_model: str | None,
    deps: GatewayDeps,
    unsealed: bool,
) -> None:
    loop = AttemptLoop(
        request,
        route,
        exchange,
        deps.settings,
        deps.pool,
        deps.health,
        deps.retry_policy,
        deps.rng,
    )
    try:
        await loop.run(resolution, body, body_model, unsealed=unsealed)
    finally:
        account_exchange(exchange, loop.leg, route, body, deps.health, deps.calibrator)


def account_exchange(
    exchange: Exchange,
    leg: Leg | None,
    route: ClientRoute,
    body: bytes,
    health: RouteHealth,
    calibrator: Calibrator,
) -> None:
    """After the client has its last byte: usage, answer facts, token credit, the token
    estimate's lesson and the cost, all on the loop (bench_units measures it per exchange)."""
    if leg is not None:
        _finish_usage(exchange, leg)
    _count_tokens(exchange, health)
    _learn_token_ratio(exchange, route, body, calibrator)
    exchange.cost_usd = exchange_cost(exchange)


def _learn_token_ratio(
    exchange: Exchange, route: ClientRoute, body: bytes, calibrator: Calibrator
) -> None:
    """Teach the local token estimate the real input count of this body, when the upstream
    gave one: a forwarded token count's answer, or a model call's input usage."""
    real: int | None = None
    if route.operation == "count_tokens":
        if exchange.status == 200:
            real = counted_tokens(exchange.response_body)
    elif exchange.usage.source == "upstream":
        usage = exchange.usage
        real = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    if real:
        calibrator.observe(exchange.model, body, real)


def _count_tokens(exchange: Exchange, health: RouteHealth) -> None:
    """Credit the tokens of the exchange to the credential that served it."""
    if not exchange.attempts or exchange.usage.source != "upstream":
        return
    last = exchange.attempts[-1]
    if last.credential_id is not None:
        usage = exchange.usage
        health.book.add_tokens(
            last.endpoint,
            last.credential_id,
            usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
            usage.output_tokens,
        )


def _finish_usage(exchange: Exchange, leg: Leg) -> None:
    """Usage, response model and stop reasons of the exchange: from the translation when there was
    one, else read from what passed through with the upstream's codec, after the last byte."""
    if exchange.upstream_format is None or exchange.status is None or exchange.status >= 300:
        if isinstance(leg, TranslatedLeg):
            exchange.notes += leg.notes
        return
    if isinstance(leg, TranslatedLeg):  # the translation read the answer already
        exchange.notes += leg.notes
        if (answer := leg.summary()) is not None:
            record_answer(exchange, answer)
        return
    fmt = parse_format(exchange.upstream_format)
    if exchange.raw_events:
        summary = summarize_events(fmt, [e.data for e in exchange.raw_events])
    elif exchange.attempts and exchange.attempts[-1].response_body:
        summary = summarize_body(fmt, exchange.attempts[-1].response_body or b"")
    else:
        return
    record_answer(exchange, summary)


async def _estimate_tokens(
    request: GatewayRequest,
    route: ClientRoute,
    exchange: Exchange,
    body: bytes,
    calibrator: Calibrator,
) -> None:
    """A token count the endpoint's API cannot answer: a local estimate, flagged as one."""
    tokens = calibrator.estimate(exchange.model, body)
    out = count_response_body(route.format, tokens)
    exchange.usage = Usage(input_tokens=tokens, source="estimated")
    exchange.notes.append("token count estimated locally: the endpoint's API has no count route")
    exchange.response_body = out
    await request.respond(200, [(b"content-type", JSON), (b"x-cal-token-count", b"estimated")], out)
    exchange.status = 200
