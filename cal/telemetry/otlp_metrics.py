"""OTLP metrics read from the Prometheus registry, so both exports show the very same numbers.

Each exchange is recorded once, in the prometheus_client registry. At export time this module turns
that registry's cumulative series into the SDK's MetricsData (Sum: monotonic, cumulative; Histogram:
cumulative with the declared bounds), under the OTLP names and attribute keys of `names.METRICS`,
which the SDK's `encode_metrics` then encodes. Cost scales with the number of series, not requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from cal.telemetry import names as n

_CUMULATIVE = AggregationTemporality.CUMULATIVE
_BY_FAMILY = {spec.prometheus_name.removesuffix("_total"): spec for spec in n.METRICS}


def metrics_data(
    registry: CollectorRegistry, resource: Resource, scope: InstrumentationScope
) -> MetricsData | None:
    """Every series of `registry` that `names.METRICS` declares, as OTLP-ready MetricsData."""
    now = time.time_ns()
    metrics = []
    for family in registry.collect():
        spec = _BY_FAMILY.get(family.name)
        if spec is None or not family.samples:
            continue
        data: Histogram | Sum
        if spec.kind == "histogram":
            data = _histogram(spec, family.samples, now)
        else:
            data = _sum(spec, family.samples, now)
        if data.data_points:
            metrics.append(Metric(spec.name, spec.description, spec.unit, data))
    if not metrics:
        return None
    scoped = ScopeMetrics(scope=scope, metrics=metrics, schema_url="")
    return MetricsData([ResourceMetrics(resource=resource, scope_metrics=[scoped], schema_url="")])


def _attributes(spec: n.MetricSpec, labels: dict[str, str]) -> dict[str, Any]:
    return {key: labels.get(n.prometheus_label(key), "") for key in spec.labels}


def _series_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "le"))


def _created(samples: Iterable[Sample]) -> dict[tuple[tuple[str, str], ...], int]:
    return {
        _series_key(s.labels): int(s.value * 1e9) for s in samples if s.name.endswith("_created")
    }


def _sum(spec: n.MetricSpec, samples: list[Sample], now: int) -> Sum:
    created = _created(samples)
    points = [
        NumberDataPoint(
            attributes=_attributes(spec, s.labels),
            start_time_unix_nano=created.get(_series_key(s.labels), now),
            time_unix_nano=now,
            value=s.value,
        )
        for s in samples
        if s.name.endswith("_total")
    ]
    return Sum(data_points=points, aggregation_temporality=_CUMULATIVE, is_monotonic=True)


def _histogram(spec: n.MetricSpec, samples: list[Sample], now: int) -> Histogram:
    created = _created(samples)
    series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for s in samples:
        entry = series.setdefault(_series_key(s.labels), {"labels": s.labels, "buckets": []})
        if s.name.endswith("_bucket"):
            entry["buckets"].append(s.value)
        elif s.name.endswith("_count"):
            entry["count"] = int(s.value)
        elif s.name.endswith("_sum"):
            entry["sum"] = s.value
    points = [
        _histogram_point(spec, key, entry, created.get(key, now), now)
        for key, entry in series.items()
    ]
    return Histogram(data_points=points, aggregation_temporality=_CUMULATIVE)


def _histogram_point(
    spec: n.MetricSpec, key: object, entry: dict[str, Any], start: int, now: int
) -> HistogramDataPoint:
    cumulative: list[float] = entry["buckets"]  # per `le`, in bound order, +Inf last
    counts = [int(c - p) for p, c in zip([0.0, *cumulative[:-1]], cumulative, strict=True)]
    return HistogramDataPoint(
        attributes=_attributes(spec, entry["labels"]),
        start_time_unix_nano=start,
        time_unix_nano=now,
        count=entry.get("count", 0),
        sum=entry.get("sum", 0.0),
        bucket_counts=counts,
        explicit_bounds=list(spec.buckets),
        min=None,  # type: ignore[arg-type]  # Prometheus keeps no min/max; OTLP leaves them unset
        max=None,  # type: ignore[arg-type]
    )
