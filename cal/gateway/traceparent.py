"""W3C trace context: read an incoming `traceparent` (pure, cheap, no OpenTelemetry import)."""

from __future__ import annotations

_HEX = frozenset("0123456789abcdef")


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent span id, flags) from `00-<32 hex>-<16 hex>-<2 hex>`, else None."""
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    version, trace_id, span_id, flags = parts[:4]
    if len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    if not set(version + trace_id + span_id + flags) <= _HEX:
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return trace_id, span_id, flags
