"""OTLP encoding with the SDK's own protobuf encoders; no SDK processors, readers or threads.

Imported only when telemetry is enabled. Spans are ReadableSpans built from exchanges; metrics
live in a MeterProvider whose only reader is an InMemoryMetricReader (no thread), collected when
the exporter decides; log items become ReadableLogRecords.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.metrics import Counter, Histogram
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from cal import __version__
from cal.capture.model import Exchange
from cal.telemetry import names as n
from cal.telemetry.logs import LogItem
from cal.telemetry.measures import Observation
from cal.telemetry.spans import SpanBuilder

SCOPE_NAME = "code-agent-lens"
_SEVERITY = {
    10: SeverityNumber.DEBUG,
    20: SeverityNumber.INFO,
    30: SeverityNumber.WARN,
    40: SeverityNumber.ERROR,
    50: SeverityNumber.FATAL,
}


class OtlpEncoder:
    """Turns exchanges, observations and log items into OTLP protobuf request bodies."""

    def __init__(self, resource: Mapping[str, str], portal_url: str, preview_bytes: int) -> None:
        self.resource = Resource(dict(resource))
        self.scope = InstrumentationScope(SCOPE_NAME, __version__)
        self.spans = SpanBuilder(self.resource, self.scope, portal_url, preview_bytes)
        self._reader = InMemoryMetricReader()
        self._provider = MeterProvider(
            metric_readers=[self._reader],
            resource=self.resource,
            views=[_bucket_view(spec) for spec in n.METRICS if spec.kind == "histogram"],
            shutdown_on_exit=False,
        )
        meter = self._provider.get_meter(SCOPE_NAME, __version__)
        self._instruments: dict[str, Counter | Histogram] = {}
        for spec in n.METRICS:
            make = meter.create_counter if spec.kind == "counter" else meter.create_histogram
            self._instruments[spec.name] = make(
                spec.name, unit=spec.unit, description=spec.description
            )

    def build_spans(self, exchange: Exchange) -> list[ReadableSpan]:
        """The spans of one finished exchange."""
        return self.spans.build(exchange)

    def record(self, observation: Observation) -> None:
        """Apply one observation to its OTel instrument."""
        instrument = self._instruments[observation.spec.name]
        attrs = dict(zip(observation.spec.labels, observation.labels, strict=True))
        if isinstance(instrument, Counter):
            instrument.add(observation.value, attrs)
        else:
            instrument.record(observation.value, attrs)

    def encode_spans(self, spans: Sequence[ReadableSpan]) -> bytes:
        """An ExportTraceServiceRequest body."""
        return encode_spans(spans).SerializeToString()  # type: ignore[no-any-return]

    def encode_metrics(self) -> bytes | None:
        """An ExportMetricsServiceRequest body with every series so far (cumulative), or None."""
        data = self._reader.get_metrics_data()
        if data is None or not data.resource_metrics:
            return None
        return encode_metrics(data).SerializeToString()  # type: ignore[no-any-return]

    def encode_logs(self, items: Sequence[LogItem]) -> bytes:
        """An ExportLogsServiceRequest body."""
        return encode_logs([self._log_record(item) for item in items]).SerializeToString()  # type: ignore[no-any-return]

    def close(self) -> None:
        """Release the meter provider (no export happens here)."""
        self._provider.shutdown(timeout_millis=100)

    def _log_record(self, item: LogItem) -> ReadableLogRecord:
        severity = _SEVERITY.get(item.level - item.level % 10, SeverityNumber.INFO)
        attrs = {**item.attributes, "logger.name": item.logger}
        record = LogRecord(
            timestamp=item.time_ns,
            observed_timestamp=time.time_ns(),
            severity_text=item.level_name,
            severity_number=severity,
            body=item.message,
            attributes=attrs,
        )
        return ReadableLogRecord(
            log_record=record, resource=self.resource, instrumentation_scope=self.scope
        )


def _bucket_view(spec: n.MetricSpec) -> View:
    return View(
        instrument_name=spec.name,
        aggregation=ExplicitBucketHistogramAggregation(boundaries=spec.buckets),
    )
