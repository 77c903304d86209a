"""Test support: an OTLP/HTTP receiver (ASGI) that decodes what it gets with opentelemetry-proto."""

from __future__ import annotations

from typing import Any

import trio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_MESSAGES = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


class OtlpReceiver:
    """An OTLP/HTTP receiver (ASGI, lifespan-aware) that decodes every body with opentelemetry-proto."""

    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.received: dict[str, list[Any]] = {path: [] for path in _MESSAGES}
        self.arrived = trio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.delay:
            await trio.sleep(self.delay)
        kind = _MESSAGES.get(scope["path"])
        status = self.status if kind is not None else 404
        if kind is not None and status == 200:
            decoded = kind()
            decoded.ParseFromString(body)
            self.received[scope["path"]].append(decoded)
            self.arrived.set()
        headers = [(b"content-type", b"application/x-protobuf")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def spans(self) -> list[Any]:
        """Every span received so far."""
        return [
            span
            for request in self.received["/v1/traces"]
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def metric_names(self) -> set[str]:
        """Names of every metric received so far."""
        return {
            metric.name
            for request in self.received["/v1/metrics"]
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    def metric(self, name: str) -> Any:
        """The last received metric called `name` (cumulative, so the latest is the total)."""
        found = [
            metric
            for request in self.received["/v1/metrics"]
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
        ]
        return found[-1]

    def log_bodies(self) -> list[str]:
        """Bodies of every log record received so far."""
        return [
            record.body.string_value
            for request in self.received["/v1/logs"]
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]


def attributes(item: Any) -> dict[str, Any]:
    """An OTLP KeyValue list as a plain dict."""
    out: dict[str, Any] = {}
    for kv in item.attributes:
        which = kv.value.WhichOneof("value")
        value = getattr(kv.value, which)
        if which == "array_value":
            value = [getattr(v, v.WhichOneof("value")) for v in value.values]
        out[kv.key] = value
    return out
