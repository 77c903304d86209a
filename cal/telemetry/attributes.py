"""Span attributes of an exchange (pure; no OpenTelemetry import).

GenAI and HTTP keys follow the semantic conventions; cal's own keys are in `names`. Never an API
key: credentials appear only as their id, URLs only as host and port (a Gemini URL's query may
hold a key). Prompt and response text appear only when a preview size is set.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from cal.capture.model import Attempt, Exchange
from cal.telemetry import names as n
from cal.telemetry.measures import operation_name, provider_name

_GEMINI_MODEL = re.compile(r"^(/v1(?:beta)?/models/)[^/:]+(:\w+)$")


def outcome(exchange: Exchange) -> str:
    """`code-agent-lens.outcome` of an exchange (see `names.OUTCOMES`)."""
    error = exchange.error
    if error is not None and error.kind == "client_disconnected":
        return "client_disconnected"
    if error is not None and error.kind == "upstream_status":
        return "upstream_error"
    if error is not None or not exchange.status or exchange.status >= 400:
        return "error"
    return "ok"


def route_template(exchange: Exchange) -> str:
    """`http.route`: the path without the source-tag prefix, Gemini's model as `{model}`."""
    path = exchange.path
    tag = exchange.source_tag
    if tag and path.startswith(f"/{tag}/"):
        path = path[len(tag) + 1 :]
    return _GEMINI_MODEL.sub(r"\1{model}\2", path)


def viewer_url(portal_url: str, request_id: str) -> str:
    """The Debug Portal page of one request."""
    return f"{portal_url.rstrip('/')}/request/{request_id}"


def request_attributes(exchange: Exchange, portal_url: str, preview_bytes: int) -> dict[str, Any]:
    """Attributes of the request (SERVER) span."""
    x = exchange
    attrs: dict[str, Any] = {
        n.HTTP_REQUEST_METHOD: x.method,
        n.HTTP_ROUTE: route_template(x),
        n.URL_PATH: x.path,
        n.GEN_AI_OPERATION_NAME: operation_name(x),
        n.GEN_AI_PROVIDER_NAME: provider_name(x.upstream_format),
        n.GEN_AI_REQUEST_STREAM: x.stream,
        n.OBS_REF: x.obs_ref,
        n.OBS_VIEWER_URL: viewer_url(portal_url, x.request_id),
        n.RUN_ID: x.run_id,
        n.REQUEST_ID: x.request_id,
        n.OUTCOME: outcome(x),
        n.ATTEMPTS: len(x.attempts),
    }
    optional: dict[str, Any] = {
        n.HTTP_RESPONSE_STATUS_CODE: x.status,
        n.GEN_AI_REQUEST_MODEL: x.model,
        n.GEN_AI_RESPONSE_MODEL: x.response_model,
        n.GEN_AI_RESPONSE_FINISH_REASONS: tuple(x.finish_reasons) or None,
        n.ENDPOINT: x.endpoint,
        n.ROUTE: x.route,
        n.CLIENT: x.client_name,
        n.SOURCE_TAG: x.source_tag,
        n.SESSION_ID: x.session_id,
        n.GEN_AI_CONVERSATION_ID: x.session_id,
        n.COST_USD: x.cost_usd,
        n.ERROR_TYPE: x.error.kind if x.error else None,
        n.ERROR_MESSAGE: x.error.message if x.error else None,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    attrs.update(usage_attributes(x))
    if preview_bytes > 0:
        attrs.update(_previews(x, preview_bytes))
    return attrs


def attempt_attributes(exchange: Exchange, attempt: Attempt) -> dict[str, Any]:
    """Attributes of one upstream attempt (CLIENT span)."""
    attrs: dict[str, Any] = {
        n.GEN_AI_OPERATION_NAME: operation_name(exchange),
        n.GEN_AI_PROVIDER_NAME: provider_name(attempt.upstream_format),
        n.HTTP_REQUEST_METHOD: "POST",
        n.ENDPOINT: attempt.endpoint,
        n.RETRY_INDEX: attempt.index,
    }
    host, port = _host_port(attempt.url)
    optional: dict[str, Any] = {
        n.GEN_AI_REQUEST_MODEL: attempt.model or exchange.model,
        n.SERVER_ADDRESS: host,
        n.SERVER_PORT: port,
        n.HTTP_RESPONSE_STATUS_CODE: attempt.status,
        n.CREDENTIAL_ID: attempt.credential_id,
        n.ATTEMPT_REASON: attempt.reason,
        n.ERROR_TYPE: attempt.error.kind if attempt.error else None,
        n.ERROR_MESSAGE: attempt.error.message if attempt.error else None,
        n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: (
            attempt.ttfb_ms / 1000 if attempt.ttfb_ms is not None else None
        ),
    }
    if attempt.error is None and attempt.status and attempt.status >= 400:
        optional[n.ERROR_TYPE] = str(attempt.status)
    attrs.update({k: v for k, v in optional.items() if v is not None})
    return attrs


def usage_attributes(exchange: Exchange) -> dict[str, Any]:
    """GenAI usage attributes; input counts cache reads and writes too (GenAI conventions)."""
    usage = exchange.usage
    if usage.source == "none":
        return {}
    attrs: dict[str, Any] = {
        n.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens,
        n.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
        n.USAGE_SOURCE: usage.source,
    }
    extra = {
        n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
        n.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_write_tokens,
        n.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
    }
    attrs.update({k: v for k, v in extra.items() if v})
    return attrs


def _host_port(url: str) -> tuple[str | None, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme else None)
    except ValueError:
        return None, None
    return parts.hostname, port


def _previews(exchange: Exchange, limit: int) -> dict[str, str]:
    out = {n.PROMPT_PREVIEW: _text(exchange.client_body, limit)}
    response = exchange.response_body
    if response is None and exchange.client_events:
        response = b"".join(event.data for event in exchange.client_events[:256])
    if response:
        out[n.RESPONSE_PREVIEW] = _text(response, limit)
    return out


def _text(data: bytes, limit: int) -> str:
    return data[:limit].decode("utf-8", errors="replace")
