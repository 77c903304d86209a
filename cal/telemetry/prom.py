"""Prometheus exposition of cal's metrics: one CollectorRegistry per Telemetry object.

Names and labels come from `names.METRICS` through the OTLP→Prometheus translation, so a
Prometheus scraping the portal's `/metrics` and a collector receiving cal's OTLP see the same series.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from cal.telemetry import names as n
from cal.telemetry.measures import Observation


class PrometheusMetrics:
    """Every declared instrument as a prometheus_client metric in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._metrics: dict[str, MetricWrapperBase] = {
            spec.name: _build(spec, self.registry) for spec in n.METRICS
        }
        self._children: dict[tuple[str, tuple[str, ...]], MetricWrapperBase] = {}
        """Labelled children by (metric, labels): bounded, as the LabelLimiter bounds labels."""

    def record(self, observation: Observation) -> None:
        """Add the values to a counter, or observe each in a histogram."""
        spec = observation.spec
        key = (spec.name, observation.labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self._metrics[spec.name].labels(*observation.labels)
        if spec.kind == "counter":
            child.inc(sum(observation.values))  # type: ignore[attr-defined]
        else:
            for value in observation.values:
                child.observe(value)  # type: ignore[attr-defined]

    def payload(self) -> tuple[bytes, str]:
        """(body, content type) of a `/metrics` response in the text exposition format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _build(spec: n.MetricSpec, registry: CollectorRegistry) -> MetricWrapperBase:
    labels = [n.prometheus_label(key) for key in spec.labels]
    if spec.kind == "counter":
        name = spec.prometheus_name.removesuffix("_total")
        return Counter(name, spec.description, labels, registry=registry)
    return Histogram(
        spec.prometheus_name, spec.description, labels, registry=registry, buckets=spec.buckets
    )
