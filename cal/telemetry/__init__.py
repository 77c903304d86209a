"""Telemetry: the only package that imports opentelemetry, and only when OTLP export is enabled.

Rule: nothing here runs on the gateway's hot path except `Telemetry.submit_nowait` (a channel
send) and the counter methods. Exchanges become spans, metrics and logs after the fact, in the
`telemetry` service, which encodes OTLP protobuf with the SDK's encoders and posts it with httpx
from trio; no OpenTelemetry provider is global and no OpenTelemetry thread is started.
`traceparent` is pure and may be imported by anyone.
"""

from __future__ import annotations

from cal.telemetry.hub import Telemetry, TelemetryStatistics

__all__ = ["Telemetry", "TelemetryStatistics"]
