"""The telemetry contract: span names, attribute keys and metric declarations (pure data).

docs/observability.md lists exactly these (a test keeps them in sync). GenAI attribute keys are the
OpenTelemetry GenAI semantic conventions as shipped in `opentelemetry-semantic-conventions` (a test
compares them with that package); cal's own keys carry the `code-agent-lens.` prefix, except the
two link attributes whose names the Jaeger UI config and the seed fix.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

# --- span names -----------------------------------------------------------------------------
SPAN_INGRESS = "code-agent-lens.ingress.capture"
SPAN_RESOLVE = "code-agent-lens.endpoint.resolve"
SPAN_TRANSFORM_REQUEST = "code-agent-lens.transform.request"
SPAN_STREAM = "code-agent-lens.response.stream"
SPAN_BODY = "code-agent-lens.response.body"
SPAN_TRANSFORM_RESPONSE = "code-agent-lens.transform.response"
SPAN_USAGE = "code-agent-lens.usage.extract"
# The request span is named `{http.request.method} {http.route}` (HTTP server conventions) and
# each upstream attempt `{gen_ai.operation.name} {gen_ai.request.model}` (GenAI conventions).

# --- GenAI / HTTP / server semantic-convention keys -----------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
URL_PATH = "url.path"
SESSION_ID = "session.id"

# --- cal's own keys ---------------------------------------------------------------------------
OBS_REF = "code-agent-lens_obs_ref"
OBS_VIEWER_URL = "code-agent-lens_obs_viewer_url"
RUN_ID = "code-agent-lens.obs.run_id"
REQUEST_ID = "code-agent-lens.obs.request_id"
ENDPOINT = "code-agent-lens.endpoint"
ROUTE = "code-agent-lens.route"
CLIENT = "code-agent-lens.client"
SOURCE_TAG = "code-agent-lens.source_tag"
CREDENTIAL_ID = "code-agent-lens.credential_id"
RETRY_INDEX = "code-agent-lens.retry_index"
ATTEMPT_REASON = "code-agent-lens.attempt.reason"
OUTCOME = "code-agent-lens.outcome"
ERROR_MESSAGE = "code-agent-lens.error.message"
USAGE_SOURCE = "code-agent-lens.usage.source"
COST_USD = "code-agent-lens.cost.usd"
ATTEMPTS = "code-agent-lens.attempts"
PASSTHROUGH = "code-agent-lens.passthrough"
STREAM_EVENTS = "code-agent-lens.stream.events"
CLIENT_EVENTS = "code-agent-lens.stream.client_events"
PROMPT_PREVIEW = "code-agent-lens.prompt.preview"
RESPONSE_PREVIEW = "code-agent-lens.response.preview"

OUTCOMES = ("ok", "upstream_error", "error", "client_disconnected")
"""`code-agent-lens.outcome`: ok (2xx), upstream_error (the upstream's 4xx/5xx passed on),
error (cal could not complete it: connect, timeout, stream cut…), client_disconnected."""

# --- metrics -----------------------------------------------------------------------------------
REQUEST_LABELS = ("endpoint", "model", "route", "client", "status_class")
GENAI_LABELS = (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, "endpoint")
TOKEN_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")

DURATION_BUCKETS: tuple[float, ...] = tuple(0.01 * 2**i for i in range(17))  # 0.01 s … 655.36 s
CHUNK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16 … 67108864 (GenAI conventions)

MetricKind = Literal["counter", "histogram"]


class MetricSpec(msgspec.Struct, frozen=True):
    """One instrument, declared once, exported over OTLP and on Prometheus `/metrics`."""

    name: str
    kind: MetricKind
    unit: str
    description: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def prometheus_name(self) -> str:
        """The Prometheus name, per OpenTelemetry's OTLP→Prometheus translation rules."""
        base = prometheus_label(self.name)
        suffix = _UNIT_SUFFIX.get(self.unit, "")
        if suffix and not base.endswith("_" + suffix):
            base = f"{base}_{suffix}"
        return base + "_total" if self.kind == "counter" else base


_UNIT_SUFFIX = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def prometheus_label(key: str) -> str:
    """An attribute key as a Prometheus label (or metric name) part: `gen_ai.token.type` →
    `gen_ai_token_type`."""
    return _INVALID.sub("_", key)


def _counter(name: str, unit: str, description: str, labels: tuple[str, ...]) -> MetricSpec:
    return MetricSpec(name, "counter", unit, description, labels)


def _histogram(
    name: str, unit: str, description: str, labels: tuple[str, ...], buckets: tuple[float, ...]
) -> MetricSpec:
    return MetricSpec(name, "histogram", unit, description, labels, buckets)


REQUESTS = _counter(
    "code_agent_lens.proxy.requests", "{request}", "Requests the gateway finished.", REQUEST_LABELS
)
ERRORS = _counter(
    "code_agent_lens.proxy.errors",
    "{error}",
    "Requests that ended in an error, by kind.",
    (*REQUEST_LABELS, "error_kind"),
)
REQUEST_DURATION = _histogram(
    "code_agent_lens.proxy.request.duration",
    "s",
    "Time from the request's start to its last byte.",
    REQUEST_LABELS,
    DURATION_BUCKETS,
)
UPSTREAM_DURATION = _histogram(
    "code_agent_lens.upstream.request.duration",
    "s",
    "Duration of each upstream attempt.",
    ("endpoint", "model", "route", "status_class"),
    DURATION_BUCKETS,
)
TIME_TO_FIRST_CHUNK = _histogram(
    "gen_ai.client.operation.time_to_first_chunk",
    "s",
    "Time from the request's start to the first response byte the client got.",
    GENAI_LABELS,
    DURATION_BUCKETS,
)
TIME_PER_OUTPUT_CHUNK = _histogram(
    "gen_ai.client.operation.time_per_output_chunk",
    "s",
    "Time between consecutive upstream stream events (at most 128 samples per request).",
    GENAI_LABELS,
    CHUNK_BUCKETS,
)
TOKEN_USAGE = _histogram(
    "gen_ai.client.token.usage",
    "{token}",
    "Tokens per request by gen_ai.token.type (input includes cache reads and writes).",
    (*GENAI_LABELS, GEN_AI_TOKEN_TYPE),
    TOKEN_BUCKETS,
)
TOKENS = _counter(
    "code_agent_lens.tokens",
    "{token}",
    "Tokens by type: input (without cache), output, cache_read, cache_write, reasoning.",
    ("endpoint", "model", "route", "client", "token_type"),
)
RETRIES = _counter(
    "code_agent_lens.upstream.retries",
    "{retry}",
    "Attempts that retried the same endpoint.",
    ("endpoint", "route"),
)
FAILOVERS = _counter(
    "code_agent_lens.upstream.failovers",
    "{failover}",
    "Requests moved from this endpoint to another one.",
    ("endpoint", "route"),
)
ENDPOINT_SWITCHES = _counter(
    "code_agent_lens.endpoint.switches",
    "{switch}",
    "Changes of the active endpoint (to `endpoint`).",
    ("endpoint", "reason"),
)
STREAM_EVENTS_TOTAL = _counter(
    "code_agent_lens.stream.events",
    "{event}",
    "Stream events received from upstreams.",
    ("endpoint", "route"),
)
COST = _counter(
    "code_agent_lens.cost.usd",
    "{USD}",
    "Estimated cost in US dollars.",
    ("endpoint", "model", "client"),
)
CREDENTIAL_COOLDOWNS = _counter(
    "code_agent_lens.credential.cooldowns",
    "{cooldown}",
    "Credentials put on cooldown.",
    ("endpoint", "reason"),
)
CAPTURE_DROPS = _counter(
    "code_agent_lens.capture.drops",
    "{exchange}",
    "Exchanges the capture writer could not take.",
    ("reason",),
)
TELEMETRY_DROPS = _counter(
    "code_agent_lens.telemetry.drops",
    "{item}",
    "Exchanges, spans and log records the telemetry exporter dropped.",
    ("signal", "reason"),
)

METRICS: tuple[MetricSpec, ...] = (
    REQUESTS,
    ERRORS,
    REQUEST_DURATION,
    UPSTREAM_DURATION,
    TIME_TO_FIRST_CHUNK,
    TIME_PER_OUTPUT_CHUNK,
    TOKEN_USAGE,
    TOKENS,
    RETRIES,
    FAILOVERS,
    ENDPOINT_SWITCHES,
    STREAM_EVENTS_TOTAL,
    COST,
    CREDENTIAL_COOLDOWNS,
    CAPTURE_DROPS,
    TELEMETRY_DROPS,
)
