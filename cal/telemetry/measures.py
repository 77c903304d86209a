"""Exchange → metric observations (pure): what each finished request adds to every instrument.

The same observations feed Prometheus and OTLP, so both show the same numbers under the same
names. Label values pass through a LabelLimiter that caps how many distinct values each label may
take and folds the rest into "other", so a client inventing model names cannot blow up the series.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Protocol

import msgspec

from cal.capture.model import Exchange
from cal.telemetry import names as n

OTHER = "other"
DEFAULT_CAPS: Mapping[str, int] = {"endpoint": 64, "model": 64, n.GEN_AI_REQUEST_MODEL: 64}
DEFAULT_CAP = 32
CHUNK_SAMPLES = 128
"""At most this many time-per-output-chunk samples per request, evenly spaced over the stream."""


class Observation(msgspec.Struct, frozen=True, array_like=True):
    """Add `values` to (counter) or observe each in (histogram) `spec` under `labels` (in order).

    Several values share one label tuple, so a stream's per-chunk timings cost one label lookup.
    """

    spec: n.MetricSpec
    labels: tuple[str, ...]
    values: tuple[float, ...]


class LabelLimiter:
    """Caps distinct values per label key; values past the cap become "other"."""

    def __init__(self, caps: Mapping[str, int] | None = None, default_cap: int = DEFAULT_CAP):
        self._caps = dict(DEFAULT_CAPS if caps is None else caps)
        self._default = default_cap
        self._seen: dict[str, set[str]] = {}

    def value(self, key: str, raw: str) -> str:
        """The label value to use for `raw` under `key`."""
        seen = self._seen.setdefault(key, set())
        if raw in seen:
            return raw
        if len(seen) >= self._caps.get(key, self._default):
            return OTHER
        seen.add(raw)
        return raw

    def labels(self, spec: n.MetricSpec, values: Mapping[str, str]) -> tuple[str, ...]:
        """The label tuple for `spec`, capped, in the order `spec.labels` declares."""
        return tuple(self.value(key, values.get(key) or "unknown") for key in spec.labels)


def status_class(status: int | None) -> str:
    """`2xx`, `4xx`, `5xx`… or `none` when no status was sent."""
    return f"{status // 100}xx" if status else "none"


def provider_name(upstream_format: str | None) -> str:
    """`gen_ai.provider.name` for an upstream API format."""
    if upstream_format in ("openai-chat", "openai-responses"):
        return "openai"
    if upstream_format == "gemini":
        return "gcp.gemini"
    return upstream_format or "unknown"


def operation_name(exchange: Exchange) -> str:
    """`gen_ai.operation.name`: chat, generate_content (Gemini) or count_tokens."""
    if exchange.path.endswith("count_tokens"):
        return "count_tokens"
    return "generate_content" if exchange.client_format == "gemini" else "chat"


def base_labels(exchange: Exchange) -> dict[str, str]:
    """Every label an exchange can fill, by key (before capping)."""
    route = exchange.route or f"{exchange.client_format}->{exchange.upstream_format or '?'}"
    model = exchange.model or "unknown"
    return {
        "endpoint": exchange.endpoint or "none",
        "model": model,
        "route": route,
        "client": exchange.client_name or exchange.source_tag or "unknown",
        "status_class": status_class(exchange.status),
        n.GEN_AI_OPERATION_NAME: operation_name(exchange),
        n.GEN_AI_PROVIDER_NAME: provider_name(exchange.upstream_format),
        n.GEN_AI_REQUEST_MODEL: model,
    }


def observe_exchange(exchange: Exchange, limiter: LabelLimiter) -> list[Observation]:
    """Every metric observation one finished exchange makes."""
    labels = base_labels(exchange)
    return list(_observations(exchange, labels, limiter))


def _observations(
    exchange: Exchange, labels: dict[str, str], limiter: LabelLimiter
) -> Iterator[Observation]:
    def obs(spec: n.MetricSpec, *values: float, **extra: str) -> Observation:
        return Observation(spec, limiter.labels(spec, {**labels, **extra}), values)

    yield obs(n.REQUESTS, 1)
    if exchange.error is not None:
        yield obs(n.ERRORS, 1, error_kind=exchange.error.kind)
    if exchange.duration_ms is not None:
        yield obs(n.REQUEST_DURATION, exchange.duration_ms / 1000)
    if exchange.ttfb_ms is not None:
        yield obs(n.TIME_TO_FIRST_CHUNK, exchange.ttfb_ms / 1000)
    yield from _attempt_observations(exchange, labels, obs)
    yield from _stream_observations(exchange, obs)
    yield from _usage_observations(exchange, obs)


def _attempt_observations(
    exchange: Exchange, labels: dict[str, str], obs: _Obs
) -> Iterator[Observation]:
    previous: str | None = None
    for attempt in exchange.attempts:
        model = attempt.model or labels["model"]
        if attempt.duration_ms is not None:
            yield obs(
                n.UPSTREAM_DURATION,
                attempt.duration_ms / 1000,
                endpoint=attempt.endpoint,
                model=model,
                status_class=status_class(attempt.status),
            )
        if previous is not None:
            if previous == attempt.endpoint:
                yield obs(n.RETRIES, 1, endpoint=attempt.endpoint)
            else:
                yield obs(n.FAILOVERS, 1, endpoint=previous)
        previous = attempt.endpoint


def _stream_observations(exchange: Exchange, obs: _Obs) -> Iterator[Observation]:
    events = exchange.raw_events
    if not events:
        return
    yield obs(n.STREAM_EVENTS_TOTAL, len(events))
    gaps = [max(b.t_ms - a.t_ms, 0.0) / 1000 for a, b in itertools.pairwise(events)]
    if len(gaps) > CHUNK_SAMPLES:  # evenly spaced samples bound the cost of very long streams
        step = len(gaps) / CHUNK_SAMPLES
        gaps = [gaps[int(i * step)] for i in range(CHUNK_SAMPLES)]
    if gaps:
        yield obs(n.TIME_PER_OUTPUT_CHUNK, *gaps)


def _usage_observations(exchange: Exchange, obs: _Obs) -> Iterator[Observation]:
    usage = exchange.usage
    if usage.source != "none":
        by_type = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cache_read": usage.cache_read_tokens,
            "cache_write": usage.cache_write_tokens,
            "reasoning": usage.reasoning_tokens,
        }
        for token_type, count in by_type.items():
            if count:
                yield obs(n.TOKENS, count, token_type=token_type)
        total_input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
        yield obs(n.TOKEN_USAGE, total_input, **{n.GEN_AI_TOKEN_TYPE: "input"})
        yield obs(n.TOKEN_USAGE, usage.output_tokens, **{n.GEN_AI_TOKEN_TYPE: "output"})
    if exchange.cost_usd:
        yield obs(n.COST, exchange.cost_usd)


class _Obs(Protocol):
    """Type of the local `obs` helper (spec, *values, **extra labels) → Observation."""

    def __call__(self, spec: n.MetricSpec, *values: float, **extra: str) -> Observation: ...
