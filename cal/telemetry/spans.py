"""Exchange → OpenTelemetry spans, after the fact, with the times the gateway recorded.

Tree (docs/observability.md): the request's SERVER span (the gateway's `span_id`, child of the
incoming `traceparent` when there was one) holds ingress capture, endpoint resolution, one CLIENT
span per upstream attempt (with request transformation and response processing under it) and
usage extraction. Child span ids come from `child_span_id`, so they are stable per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from cal.capture.model import Attempt, Exchange
from cal.telemetry import names as n
from cal.telemetry.attributes import (
    attempt_attributes,
    outcome,
    request_attributes,
    route_template,
    usage_attributes,
)
from cal.telemetry.traceparent import child_span_id

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class SpanBuilder:
    """Builds the spans of one exchange; `resource` and `scope` are the Telemetry object's own."""

    def __init__(
        self, resource: Resource, scope: InstrumentationScope, portal_url: str, preview_bytes: int
    ) -> None:
        self.resource = resource
        self.scope = scope
        self.portal_url = portal_url
        self.preview_bytes = preview_bytes

    def build(self, exchange: Exchange) -> list[ReadableSpan]:
        """All spans of `exchange`, the request span first."""
        return list(_Tree(self, exchange).spans())


class _Tree:
    def __init__(self, builder: SpanBuilder, exchange: Exchange) -> None:
        self.b = builder
        self.x = exchange
        self.trace_id = int(exchange.trace_id, 16)
        self.start_ns = int(exchange.started_at * 1e9)
        self.root = self._context(exchange.span_id)

    def spans(self) -> Iterator[ReadableSpan]:
        x = self.x
        end_ms = x.duration_ms or 0.0
        yield self._root(end_ms)
        first_start = x.attempts[0].started_ms if x.attempts else end_ms
        ingress_end = _clamp(x.body_read_ms, 0.0, first_start)
        yield self._child(n.SPAN_INGRESS, 0, self.root, 0.0, ingress_end)
        resolved = _clamp(x.resolved_ms, ingress_end, first_start)
        yield self._child(
            n.SPAN_RESOLVE, 0, self.root, ingress_end, resolved, self._resolve_attrs()
        )
        for attempt in x.attempts:
            yield from self._attempt(attempt, end_ms)
        yield self._child(n.SPAN_USAGE, 0, self.root, end_ms, end_ms, usage_attributes(x))

    def _root(self, end_ms: float) -> ReadableSpan:
        x = self.x
        parent = self._context(x.parent_span_id, remote=True) if x.parent_span_id else None
        attrs = request_attributes(x, self.b.portal_url, self.b.preview_bytes)
        return self._span(
            f"{x.method} {route_template(x)}",
            self.root,
            parent,
            SpanKind.SERVER,
            (0.0, end_ms),
            attrs,
            _status(outcome(x), x.error.message if x.error else None),
        )

    def _resolve_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {n.ATTEMPTS: len(self.x.attempts)}
        if self.x.endpoint:
            attrs[n.ENDPOINT] = self.x.endpoint
        return attrs

    def _attempt(self, attempt: Attempt, end_ms: float) -> Iterator[ReadableSpan]:
        x = self.x
        ctx = self._context(child_span_id(x.span_id, "attempt", attempt.index))
        start = attempt.started_ms
        stop = start + attempt.duration_ms if attempt.duration_ms is not None else end_ms
        attrs = attempt_attributes(x, attempt)
        ok = attempt.error is None and (attempt.status or 0) < 400
        status = Status(StatusCode.UNSET) if ok else _error_status(attempt)
        model = attempt.model or x.model or "unknown"
        name = f"{attrs[n.GEN_AI_OPERATION_NAME]} {model}"
        yield self._span(name, ctx, self.root, SpanKind.CLIENT, (start, stop), attrs, status)
        sent = _clamp(attempt.sent_ms, start, stop)
        passthrough = {n.PASSTHROUGH: x.client_format == attempt.upstream_format}
        yield self._child(n.SPAN_TRANSFORM_REQUEST, attempt.index, ctx, start, sent, passthrough)
        if attempt.ttfb_ms is not None:
            first = _clamp(start + attempt.ttfb_ms, sent, stop)
            yield self._response_span(attempt, ctx, first, stop, passthrough)
        translated = not passthrough[n.PASSTHROUGH] and not x.stream and ok
        if translated and attempt is x.attempts[-1]:
            window = (stop, max(end_ms, stop))
            yield self._child(n.SPAN_TRANSFORM_RESPONSE, attempt.index, ctx, *window, passthrough)

    def _response_span(
        self, attempt: Attempt, parent: SpanContext, first: float, stop: float, pt: dict[str, Any]
    ) -> ReadableSpan:
        x = self.x
        last = attempt is x.attempts[-1]
        if x.stream and last and x.raw_events:
            attrs = {
                **pt,
                n.STREAM_EVENTS: len(x.raw_events),
                n.CLIENT_EVENTS: len(x.client_events),
            }
            return self._child(n.SPAN_STREAM, attempt.index, parent, first, stop, attrs)
        return self._child(n.SPAN_BODY, attempt.index, parent, first, stop, pt)

    def _child(
        self,
        name: str,
        index: int,
        parent: SpanContext,
        start_ms: float,
        end_ms: float,
        attrs: dict[str, Any] | None = None,
    ) -> ReadableSpan:
        ctx = self._context(child_span_id(self.x.span_id, name, index))
        return self._span(name, ctx, parent, SpanKind.INTERNAL, (start_ms, end_ms), attrs or {})

    def _span(
        self,
        name: str,
        ctx: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        window: tuple[float, float],
        attrs: dict[str, Any],
        status: Status | None = None,
    ) -> ReadableSpan:
        start_ms, end_ms = window
        return ReadableSpan(
            name,
            context=ctx,
            parent=parent,
            resource=self.b.resource,
            attributes=attrs,
            kind=kind,
            status=status or Status(StatusCode.UNSET),
            start_time=self.start_ns + int(start_ms * 1e6),
            end_time=self.start_ns + int(max(end_ms, start_ms) * 1e6),
            instrumentation_scope=self.b.scope,
        )

    def _context(self, span_id: str, *, remote: bool = False) -> SpanContext:
        return SpanContext(self.trace_id, int(span_id, 16), is_remote=remote, trace_flags=_SAMPLED)


def _clamp(value: float | None, low: float, high: float) -> float:
    if value is None:
        return low
    return min(max(value, low), max(high, low))


def _status(result: str, message: str | None) -> Status:
    if result == "ok":
        return Status(StatusCode.OK)
    return Status(StatusCode.ERROR, message or result)


def _error_status(attempt: Attempt) -> Status:
    if attempt.error is not None:
        return Status(StatusCode.ERROR, f"{attempt.error.kind}: {attempt.error.message}")
    return Status(StatusCode.ERROR, f"upstream status {attempt.status}")
