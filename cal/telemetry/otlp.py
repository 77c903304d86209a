"""OTLP encoding with the SDK's own protobuf encoders; no SDK processors, readers or threads.

Imported only when telemetry is enabled. Spans are ReadableSpans built from exchanges; metrics
are read from the Prometheus registry (`otlp_metrics`); log items become ReadableLogRecords.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import NonRecordingSpan, SpanContext, set_span_in_context
from prometheus_client import CollectorRegistry

from cal import __version__
from cal.capture.model import Exchange
from cal.telemetry.logs import LogItem
from cal.telemetry.otlp_metrics import metrics_data
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

    def build_spans(self, exchange: Exchange) -> list[ReadableSpan]:
        """The spans of one finished exchange."""
        return self.spans.build(exchange)

    def encode_spans(self, spans: Sequence[ReadableSpan]) -> bytes:
        """An ExportTraceServiceRequest body."""
        return encode_spans(spans).SerializeToString()  # type: ignore[no-any-return]

    def encode_metrics(self, registry: CollectorRegistry) -> bytes | None:
        """An ExportMetricsServiceRequest body with every series so far (cumulative), or None."""
        data = metrics_data(registry, self.resource, self.scope)
        if data is None:
            return None
        return encode_metrics(data).SerializeToString()  # type: ignore[no-any-return]

    def encode_logs(self, items: Sequence[LogItem]) -> bytes:
        """An ExportLogsServiceRequest body."""
        return encode_logs([self._log_record(item) for item in items]).SerializeToString()  # type: ignore[no-any-return]

    def _log_record(self, item: LogItem) -> ReadableLogRecord:
        severity = _SEVERITY.get(item.level - item.level % 10, SeverityNumber.INFO)
        attrs = {**item.attributes, "logger.name": item.logger}
        record = LogRecord(
            context=_trace_context(item.attributes),
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


def _trace_context(attributes: Mapping[str, object]) -> Context | None:
    """The span a log record names with `extra={"trace_id": …, "span_id": …}` (hex), if any."""
    trace_id, span_id = attributes.get("trace_id"), attributes.get("span_id")
    if not (isinstance(trace_id, str) and isinstance(span_id, str)):
        return None
    try:
        context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False)
    except ValueError:
        return None
    return set_span_in_context(NonRecordingSpan(context))
