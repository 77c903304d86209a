"""Where OTLP goes and what the resource says, from Settings (pure; no OpenTelemetry import)."""

from __future__ import annotations

from urllib.parse import unquote

from cal import __version__
from cal.config import Settings

DEFAULT_OTLP_ENDPOINT = "http://127.0.0.1:4318"
SIGNALS = ("traces", "metrics", "logs")


def signal_urls(settings: Settings) -> dict[str, str]:
    """OTLP/HTTP URL per signal: a per-signal setting is used as is; otherwise the base endpoint
    (default http://127.0.0.1:4318) plus `/v1/{signal}`, as the OTLP exporter spec says."""
    base = (settings.otlp_endpoint or DEFAULT_OTLP_ENDPOINT).rstrip("/")
    own = {
        "traces": settings.otlp_traces_endpoint,
        "metrics": settings.otlp_metrics_endpoint,
        "logs": settings.otlp_logs_endpoint,
    }
    return {signal: own[signal] or f"{base}/v1/{signal}" for signal in SIGNALS}


def parse_resource_attributes(value: str) -> dict[str, str]:
    """`OTEL_RESOURCE_ATTRIBUTES` (`k1=v1,k2=v2`, values percent-encoded) as a dict; malformed
    entries are skipped."""
    out: dict[str, str] = {}
    for item in value.split(","):
        key, sep, raw = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = unquote(raw.strip())
    return out


def resource_attributes(settings: Settings, run_id: str | None) -> dict[str, str]:
    """The OTel resource of this process: service name and version, run id, user attributes."""
    attrs = parse_resource_attributes(settings.otel_resource_attributes)
    attrs["service.name"] = settings.otel_service_name or "code-agent-lens"
    attrs.setdefault("service.version", __version__)
    if run_id:
        attrs["code-agent-lens.obs.run_id"] = run_id
    return attrs
