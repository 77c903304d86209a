"""The Exchange record: everything cal saw of one client request, filled in as it happens.

The gateway creates one Exchange per request, appends to it while the request runs (attempts,
stream events with their timestamps) and hands it, finished, to the capture writer and the
telemetry exporter. Times are milliseconds since the request started (monotonic), except
`started_at`, which is wall-clock Unix seconds.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SCHEMA_VERSION = 1

Header = tuple[str, str]
UsageSource = Literal["upstream", "estimated", "none"]
ErrorKindName = Literal[
    "client_error",  # the client's request was refused (bad JSON, too large, unknown route…)
    "no_endpoint",  # nothing to route to
    "upstream_status",  # the upstream answered with a 4xx/5xx
    "connect",  # could not connect to the upstream
    "timeout",  # the upstream did not answer in time
    "stream_cut",  # the upstream stream ended early or broke mid-way
    "protocol",  # the upstream sent something that is not what its API promises
    "translation",  # cal could not translate a request or response
    "client_disconnected",  # the client went away before the end
    "internal",  # a bug in cal
]


class StreamEvent(msgspec.Struct, array_like=True):
    """One stream event: when it passed (ms since request start) and its bytes."""

    t_ms: float
    data: bytes


class ErrorInfo(msgspec.Struct):
    """Why an exchange (or one attempt) failed."""

    kind: ErrorKindName
    message: str
    status: int | None = None


class Usage(msgspec.Struct):
    """Normalised token usage (protocols.md §3.6): input excludes cache reads and writes."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    source: UsageSource = "none"


class Attempt(msgspec.Struct):
    """One try against an upstream endpoint."""

    index: int
    endpoint: str
    upstream_format: str
    url: str
    credential_id: str | None = None
    started_ms: float = 0.0
    request_headers: list[Header] = msgspec.field(default_factory=list)
    request_body: bytes | None = None
    status: int | None = None
    response_headers: list[Header] = msgspec.field(default_factory=list)
    response_body: bytes | None = None
    """Non-stream body as received (decoded), or the error body of a failed stream."""
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    error: ErrorInfo | None = None
    reason: str | None = None
    """Why this attempt was made or given up (retry, failover…), for people reading the record."""
    model: str | None = None
    """The model name sent upstream (after the endpoint's model map), when known."""
    sent_ms: float | None = None
    """When the upstream request was sent (after request transformation), ms since request start."""


class Exchange(msgspec.Struct):
    """One client request through the gateway, from ingress to the last byte."""

    request_id: str
    trace_id: str
    span_id: str
    run_id: str
    started_at: float
    method: str
    path: str
    query: str
    client_format: str
    client_headers: list[Header]
    client_body: bytes
    schema_version: int = SCHEMA_VERSION
    parent_span_id: str | None = None
    source_tag: str | None = None
    client_name: str | None = None
    session_id: str | None = None
    stream: bool = False
    model: str | None = None
    endpoint: str | None = None
    upstream_format: str | None = None
    route: str | None = None
    """`{client_format}->{upstream_format}`, e.g. `anthropic->openai-chat`."""
    attempts: list[Attempt] = msgspec.field(default_factory=list)
    transform_input: bytes | None = None
    transform_output: bytes | None = None
    status: int | None = None
    response_headers: list[Header] = msgspec.field(default_factory=list)
    response_body: bytes | None = None
    """The non-stream body the client received (or the error body it received)."""
    raw_events: list[StreamEvent] = msgspec.field(default_factory=list)
    client_events: list[StreamEvent] = msgspec.field(default_factory=list)
    usage: Usage = msgspec.field(default_factory=Usage)
    error: ErrorInfo | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    """What translation changed or dropped, unknown events skipped, and similar remarks."""
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    body_read_ms: float | None = None
    """When the client's request body had been read whole (ingress capture done)."""
    resolved_ms: float | None = None
    """When the endpoint had been chosen (endpoint resolution done)."""
    response_model: str | None = None
    """The model the upstream says answered, when the response names it."""
    finish_reasons: list[str] = msgspec.field(default_factory=list)
    """Why generation stopped, as the upstream said it (`end_turn`, `stop`, `tool_use`…)."""
    cost_usd: float | None = None
    """Estimated cost of the request in US dollars, when a price is known."""

    @property
    def obs_ref(self) -> str:
        """The reference users and spans carry: `{trace_id}/{request_id}`."""
        return f"{self.trace_id}/{self.request_id}"
