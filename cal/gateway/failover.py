"""The attempt loop: try the candidate endpoints and their credentials until one answers.

routing/policy.py decides after each attempt (retry, fail over, give up); this module carries
the decisions out: it waits, picks a credential, prepares the call for the endpoint's format,
records every attempt on the Exchange, and sends the client the answer it settled on. Nothing
reaches the client before that, so a retryable error is never relayed while a try remains.
"""

from __future__ import annotations

import logging
import math
import random

import msgspec
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange
from cal.config import Settings
from cal.formats.errors import ErrorKind, error_body, error_status
from cal.formats.routes import ClientRoute
from cal.gateway.asgi import JSON, GatewayRequest, RequestRefused
from cal.gateway.headers import header_value
from cal.gateway.health import Credential, RouteHealth
from cal.gateway.legs import Leg
from cal.gateway.prepare import Prepared, prepare
from cal.gateway.pump import HeldError, deliver, run_attempt
from cal.gateway.upstream import UpstreamCall, UpstreamFailure, UpstreamPool
from cal.routing.credentials import CLIENT_CREDENTIAL
from cal.routing.model import Endpoint
from cal.routing.policy import AttemptState, Decision, Outcome, RetryPolicy, decide
from cal.routing.ratelimit import RateLimits, retry_delay_from_body, with_retry_after
from cal.routing.resolve import Resolution
from cal.telemetry.traceparent import child_span_id, format_traceparent

log = logging.getLogger(__name__)


def retry_policy(settings: Settings) -> RetryPolicy:
    """The retry bounds the settings give."""
    return RetryPolicy(
        max_attempts=max(1, settings.retry_max_attempts),
        per_endpoint=max(1, settings.retry_per_endpoint),
        backoff_s=settings.retry_backoff_s,
        backoff_max_s=settings.retry_backoff_max_s,
        max_wait_s=settings.retry_max_wait_s,
        budget_s=settings.retry_budget_s,
        default_cooldown_s=settings.retry_default_cooldown_s,
    )


class AttemptTimeouts(msgspec.Struct, frozen=True):
    """Seconds: until the response head, between two chunks of the body, and in all."""

    first_byte_s: float
    idle_s: float
    total_s: float


def attempt_timeouts(settings: Settings, endpoint: Endpoint) -> AttemptTimeouts:
    """The timeouts of one attempt on `endpoint`."""
    return AttemptTimeouts(
        endpoint.first_byte_timeout_s or settings.first_byte_timeout_s,
        endpoint.idle_timeout_s or settings.idle_timeout_s,
        endpoint.total_timeout_s or settings.total_timeout_s,
    )


class _Last(msgspec.Struct):
    """The most recent failed attempt: what the client gets if nothing better comes."""

    attempt: Attempt
    leg: Leg
    held: HeldError | None = None
    failure: UpstreamFailure | None = None


class AttemptLoop:
    """Serves one request over its candidate endpoints (one instance per request)."""

    def __init__(
        self,
        request: GatewayRequest,
        route: ClientRoute,
        exchange: Exchange,
        settings: Settings,
        pool: UpstreamPool,
        health: RouteHealth,
        policy: RetryPolicy,
        rng: random.Random,
    ) -> None:
        self.request, self.route, self.exchange = request, route, exchange
        self.settings, self.pool, self.health = settings, pool, health
        self.policy = policy
        self.rng = rng
        self.t0 = trio.current_time()
        self.last: _Last | None = None
        self.leg: Leg | None = None
        """The leg of the latest attempt (its translation notes and usage end up on the record)."""

    async def run(
        self, resolution: Resolution, body: bytes, body_model: str | None, *, unsealed: bool = False
    ) -> None:
        """Try the candidates until an answer reaches the client (or every try is spent).
        `unsealed`: the body is known to hold no reasoning envelope (cal/gateway/prepare.py)."""
        candidates = resolution.candidates
        reason = resolution.reason
        index, on_endpoint = 0, 0
        while index < len(candidates):
            endpoint = candidates[index]
            credential = self.health.pick(endpoint)
            if credential is None:
                reason = f"failover: every key of {endpoint.name!r} is cooling down or out"
                index, on_endpoint = index + 1, 0
                continue
            prepared = self._prepare(endpoint, credential, body, body_model, unsealed)
            outcome = await self._attempt(endpoint, credential, prepared, reason)
            on_endpoint += 1
            if outcome.kind == "ok":
                return
            decision = self._decide(outcome, endpoint, credential, on_endpoint, index, candidates)
            self._apply(decision, endpoint, credential)
            reason = decision.reason
            if decision.action == "give_up":
                break
            if decision.action == "failover":
                log.info(
                    "request %s: %s on endpoint %s",
                    self.exchange.request_id,
                    decision.reason,
                    endpoint.name,
                )
                index, on_endpoint = index + 1, 0
            elif decision.delay_s > 0:
                self.request.watch()
                await trio.sleep(decision.delay_s)
        await self._give_up(candidates, reason)

    def _prepare(
        self,
        endpoint: Endpoint,
        credential: Credential,
        body: bytes,
        body_model: str | None,
        unsealed: bool,
    ) -> Prepared:
        exchange = self.exchange
        exchange.endpoint, exchange.upstream_format = endpoint.name, endpoint.format
        exchange.route = f"{self.route.format}->{endpoint.format}"
        exchange.raw_events, exchange.client_events = [], []  # a failed try's events are dropped
        exchange.error = None
        exchange.transform_input = exchange.transform_output = None
        prepared = prepare(
            self.route, exchange, endpoint, body, body_model, credential.key, unsealed=unsealed
        )
        self.leg = prepared.leg
        return prepared

    async def _attempt(
        self, endpoint: Endpoint, credential: Credential, prepared: Prepared, reason: str
    ) -> Outcome:
        request, exchange = self.request, self.exchange
        attempt = _new_attempt(request, exchange, endpoint, prepared, credential, reason)
        exchange.attempts.append(attempt)
        self.health.book.used(endpoint.name, credential.id, self.health.clock())
        timeouts = attempt_timeouts(self.settings, endpoint)
        upstream = UpstreamCall(
            prepared.url,
            attempt.request_headers,
            prepared.body,
            self.pool.connect_timeout_for(endpoint),
        )
        held: HeldError | None = None
        failure: UpstreamFailure | None = None
        now = trio.current_time()
        total_at = now + timeouts.total_s
        head_at = min(total_at, now + timeouts.first_byte_s)
        with trio.CancelScope(deadline=head_at) as scope:  # the head's deadline, then the total
            try:
                held = await run_attempt(
                    request,
                    exchange,
                    attempt,
                    self.pool.client_for(endpoint),
                    upstream,
                    prepared.leg,
                    timeouts.idle_s,
                    (scope, total_at),
                )
            except UpstreamFailure as exc:
                failure = exc
        if scope.cancelled_caught:
            if attempt.status is None and head_at < total_at:
                first = timeouts.first_byte_s
                failure = UpstreamFailure(
                    "timeout", f"no answer from the upstream within {first:g} s"
                )
            else:
                failure = await self._deadline(attempt, prepared.leg, timeouts.total_s)
        if failure is not None:
            attempt.error = ErrorInfo(failure.kind, failure.message)
        if attempt.duration_ms is None:  # no answer at all: the attempt ends now
            attempt.duration_ms = request.ms() - attempt.started_ms
        limits = self.health.observe(endpoint.name, credential.id, attempt.response_headers)
        self.health.book.answered(endpoint.name, credential.id, attempt.status)
        if held is None and failure is None:
            return Outcome(kind="ok")
        self.last = _Last(attempt, prepared.leg, held, failure)
        if failure is not None:
            kind = (
                failure.kind if failure.kind in ("connect", "timeout", "protocol") else "stream_cut"
            )
            return Outcome(kind=kind, client_saw_bytes=request.response_started)
        if held is not None and held.status == 429:
            limits = self._body_retry_delay(held, limits)
        advice = header_value(attempt.response_headers, "x-should-retry")
        return Outcome(
            kind="status",
            status=attempt.status,
            rate_limits=limits,
            should_retry=None if advice is None else advice.strip().lower() == "true",
        )

    def _body_retry_delay(self, held: HeldError, limits: RateLimits | None) -> RateLimits | None:
        """A 429 whose headers name no wait may name one in its body (Gemini's RetryInfo)."""
        if limits is not None and limits.retry_at is not None:
            return limits
        delay = retry_delay_from_body(held.body)
        if delay is None:
            return limits
        return with_retry_after(limits, delay, self.health.clock())

    async def _deadline(self, attempt: Attempt, leg: Leg, total: float) -> UpstreamFailure | None:
        message = f"the upstream call took longer than {total:g} s"
        if not self.request.response_started:
            return UpstreamFailure("timeout", message)
        attempt.error = ErrorInfo("timeout", message)
        self.exchange.error = ErrorInfo("timeout", message)
        await self.request.body(leg.fail("timeout", message, self.request.ms()), more=False)
        return None

    def _decide(
        self,
        outcome: Outcome,
        endpoint: Endpoint,
        credential: Credential,
        on_endpoint: int,
        index: int,
        candidates: list[Endpoint],
    ) -> Decision:
        state = AttemptState(
            attempts=len(self.exchange.attempts),
            on_endpoint=on_endpoint,
            elapsed_s=trio.current_time() - self.t0,
            other_key_ready=self.health.any_ready(endpoint, other_than=credential.id),
            more_endpoints=index + 1 < len(candidates),
            pooled_key=credential.id != CLIENT_CREDENTIAL,
        )
        return decide(outcome, state, self.policy, self.health.clock(), self.rng.random())

    def _apply(self, decision: Decision, endpoint: Endpoint, credential: Credential) -> None:
        health = self.health
        status = self.exchange.attempts[-1].status
        if decision.key_action == "take_out":
            health.take_out(endpoint.name, credential.id, f"the upstream answered {status}")
        elif decision.key_action == "cool" and decision.cool_until is not None:
            health.cool(endpoint.name, credential.id, decision.cool_until, f"{status}")
        if decision.action == "give_up" and decision.reason:
            self.exchange.notes.append(decision.reason)

    async def _give_up(self, candidates: list[Endpoint], reason: str) -> None:
        """Every try is spent: the last attempt's answer, or an answer of cal's own."""
        last = self.last
        if self.request.response_started:
            return
        if last is not None and last.held is not None:
            await deliver(self.request, self.exchange, last.leg, last.held, last.attempt)
        elif last is not None and last.failure is not None:
            failure = last.failure
            kind: ErrorKind = "timeout" if failure.kind == "timeout" else "bad_gateway"
            raise RequestRefused(kind, failure.message, exchange_kind=failure.kind)
        else:
            await self._blocked(candidates)

    async def _blocked(self, candidates: list[Endpoint]) -> None:
        """No credential of any candidate is usable: 429 with Retry-After, or 503."""
        times = [t for e in candidates if (t := self.health.retry_at(e)) is not None]
        now = self.health.clock()
        exchange = self.exchange
        names = ", ".join(e.name for e in candidates)
        if times:
            wait = max(1, math.ceil(min(times) - now))
            kind: ErrorKind = "rate_limit"
            message = f"every endpoint is cooling down ({names}): retry in {wait} s"
            extra = [(b"retry-after", str(wait).encode())]
        else:
            kind, extra = "unavailable", []
            message = f"no usable credential: every key of {names} was rejected upstream"
        body = error_body(self.route.format, kind, message)
        status = error_status(self.route.format, kind)
        exchange.error = ErrorInfo("no_endpoint", message, status)
        exchange.response_body, exchange.status = body, status
        exchange.notes.append(message)
        await self.request.respond(status, [(b"content-type", JSON), *extra], body)


def _new_attempt(
    request: GatewayRequest,
    exchange: Exchange,
    endpoint: Endpoint,
    prepared: Prepared,
    credential: Credential,
    reason: str,
) -> Attempt:
    index = len(exchange.attempts)
    # the upstream sees this attempt's span as its parent (the exporter emits it with this id)
    span = child_span_id(exchange.span_id, "attempt", index)
    headers = [h for h in prepared.headers if h[0] != "traceparent"]
    headers.append(("traceparent", format_traceparent(exchange.trace_id, span)))
    return Attempt(
        index=index,
        endpoint=endpoint.name,
        upstream_format=endpoint.format,
        url=prepared.url,
        credential_id=credential.id,
        started_ms=request.ms(),
        request_headers=headers,
        request_body=prepared.body if prepared.body is not exchange.client_body else None,
        reason=reason,
        model=endpoint.map_model(exchange.model),
    )
