"""W3C trace context helpers: pure, cheap, no OpenTelemetry import (the gateway calls them per request).

`parse_traceparent` reads an incoming `traceparent` header, `format_traceparent` writes one, and
`new_trace_id` / `new_span_id` make random ids. `child_span_id` derives the id of a span cal emits
under a request's span (an upstream attempt, a phase), so the gateway can put the attempt's span id
in the `traceparent` it sends upstream and the exporter later emits a span with that same id.
"""

from __future__ import annotations

import hashlib
import os

_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """Read a W3C `traceparent` header.

    Args:
        value: the header value, e.g. `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`.

    Returns:
        (trace_id, parent span id, flags) in lower-case hex, or None when the value is missing or
        malformed (then the caller starts a new trace).
    """
    if not value:
        return None
    parts = value.strip().lower().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    if parts[0] == "00" and len(parts) != 4:
        return None
    version, trace_id, span_id, flags = parts[:4]
    if len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    if not set(version + trace_id + span_id + flags) <= _HEX:
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return trace_id, span_id, flags


def format_traceparent(trace_id: str, span_id: str, flags: str = "01") -> str:
    """The `traceparent` header value naming `span_id` of `trace_id` as the parent."""
    return f"00-{trace_id}-{span_id}-{flags}"


def new_trace_id() -> str:
    """A random, non-zero 128-bit trace id as 32 lower-case hex digits."""
    value = os.urandom(16).hex()
    return value if value != _ZERO_TRACE else new_trace_id()


def new_span_id() -> str:
    """A random, non-zero 64-bit span id as 16 lower-case hex digits."""
    value = os.urandom(8).hex()
    return value if value != _ZERO_SPAN else new_span_id()


def child_span_id(span_id: str, name: str, index: int = 0) -> str:
    """The span id of cal's child span `name` (number `index`) under the request span `span_id`.

    Deterministic, so the gateway and the exporter agree on it without sharing state.
    """
    digest = hashlib.blake2b(f"{span_id}/{name}/{index}".encode(), digest_size=8).hexdigest()
    return digest if digest != _ZERO_SPAN else "0" * 15 + "1"
