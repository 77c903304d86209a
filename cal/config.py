"""Settings: the ONLY place that reads environment variables and config files.

`load(overrides)` merges defaults < stack profile YAML < CODE_AGENT_LENS_* / OTEL_* env < CLI
overrides and returns a frozen Settings. Everything else takes the values it needs as parameters.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

CaptureLevel = Literal["all", "metadata", "none"]
ENV_PREFIX = "CODE_AGENT_LENS_"
DEFAULT_GATEWAY = ("127.0.0.1", 3010)
DEFAULT_PORTAL = ("127.0.0.1", 3011)


class ConfigError(Exception):
    """A setting has a value cal cannot use; the message names the setting."""


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every setting of a cal process, resolved once at start-up."""

    data_dir: Path
    db_path: Path
    dump_dir: Path
    gateway_host: str = DEFAULT_GATEWAY[0]
    gateway_port: int = DEFAULT_GATEWAY[1]
    portal_host: str = DEFAULT_PORTAL[0]
    portal_port: int = DEFAULT_PORTAL[1]
    deployment_profile: str = "local_debug"
    dump_enabled: bool = True
    viewer_enabled: bool = True
    viewer_public_url: str = ""
    """Base URL of the portal's /debug/obs as users open it; derived from the portal bind if empty."""
    capture_headers: CaptureLevel = "all"
    capture_bodies: CaptureLevel = "all"
    capture_stream_events: CaptureLevel = "all"
    capture_secrets: bool = False
    prompt_extract: bool = True
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest body the capture keeps whole; larger ones are cut with an explicit marker."""
    max_request_bytes: int = 64 * 1024 * 1024
    """Largest client request body the gateway accepts (413 above)."""
    retention_max_age_days: float = 14.0
    retention_max_bytes: int = 2 * 1024 * 1024 * 1024
    retention_max_runs: int = 50
    connect_timeout_s: float = 10.0
    first_byte_timeout_s: float = 300.0
    idle_timeout_s: float = 300.0
    total_timeout_s: float = 3600.0
    retry_max_attempts: int = 6
    """Upstream attempts per request in all, across endpoints and keys (docs/routing.md)."""
    retry_per_endpoint: int = 3
    retry_backoff_s: float = 0.5
    retry_backoff_max_s: float = 8.0
    retry_max_wait_s: float = 20.0
    """Longest Retry-After cal waits out itself; longer ones fail over or reach the client."""
    retry_budget_s: float = 120.0
    retry_default_cooldown_s: float = 30.0
    shutdown_grace_s: float = 5.0
    otel_enabled: bool = False
    otlp_endpoint: str = ""
    otlp_traces_endpoint: str = ""
    otlp_metrics_endpoint: str = ""
    otlp_logs_endpoint: str = ""
    otel_service_name: str = "code-agent-lens"
    otel_resource_attributes: str = ""
    otel_prompt_preview_bytes: int = 0
    """Opt-in: the first N bytes of prompt and response text on spans (0 puts no text on spans)."""
    log_level: str = "info"
    huge_pages: bool = True
    """Linux: `cal obs up` starts itself again at once with Python's objects on 2 MB pages
    (`huge_page_environ`, `cal/hugepages.py`), so a request after a quiet spell touches
    fewer pages."""

    @property
    def portal_url(self) -> str:
        """Where users open the portal."""
        if self.viewer_public_url:
            return self.viewer_public_url.rstrip("/")
        return f"http://{_url_host(self.portal_host)}:{self.portal_port}/debug/obs"

    @property
    def gateway_url(self) -> str:
        return f"http://{_url_host(self.gateway_host)}:{self.gateway_port}"


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def default_data_dir() -> Path:
    """The platform's user data dir: ~/.local/share/code-agent-lens, %LOCALAPPDATA%\\code-agent-lens."""
    import platformdirs

    return Path(platformdirs.user_data_dir("code-agent-lens", appauthor=False, roaming=False))


# env var (after the prefix) -> Settings field
_ENV_FIELDS: dict[str, str] = {
    "DATA_DIR": "data_dir",
    "DB_PATH": "db_path",
    "OBS_DUMP_DIR": "dump_dir",
    "OBS_DUMP_ENABLED": "dump_enabled",
    "OBS_VIEWER_ENABLED": "viewer_enabled",
    "OBS_VIEWER_PUBLIC_URL": "viewer_public_url",
    "OBS_VIEWER_PORT": "portal_port",
    "PORT": "gateway_port",
    "OBS_DEPLOYMENT_PROFILE": "deployment_profile",
    "OBS_CAPTURE_HEADERS": "capture_headers",
    "OBS_CAPTURE_BODIES": "capture_bodies",
    "OBS_CAPTURE_STREAM_EVENTS": "capture_stream_events",
    "OBS_CAPTURE_SECRETS": "capture_secrets",
    "OBS_PROMPT_EXTRACT": "prompt_extract",
    "OBS_MAX_BODY_BYTES": "max_body_bytes",
    "MAX_REQUEST_BYTES": "max_request_bytes",
    "OBS_RETENTION_MAX_AGE_DAYS": "retention_max_age_days",
    "OBS_RETENTION_MAX_BYTES": "retention_max_bytes",
    "OBS_RETENTION_MAX_RUNS": "retention_max_runs",
    "CONNECT_TIMEOUT_S": "connect_timeout_s",
    "FIRST_BYTE_TIMEOUT_S": "first_byte_timeout_s",
    "IDLE_TIMEOUT_S": "idle_timeout_s",
    "TOTAL_TIMEOUT_S": "total_timeout_s",
    "SHUTDOWN_GRACE_S": "shutdown_grace_s",
    "RETRY_MAX_ATTEMPTS": "retry_max_attempts",
    "RETRY_PER_ENDPOINT": "retry_per_endpoint",
    "RETRY_BACKOFF_S": "retry_backoff_s",
    "RETRY_BACKOFF_MAX_S": "retry_backoff_max_s",
    "RETRY_MAX_WAIT_S": "retry_max_wait_s",
    "RETRY_BUDGET_S": "retry_budget_s",
    "RETRY_DEFAULT_COOLDOWN_S": "retry_default_cooldown_s",
    "OTEL_ENABLED": "otel_enabled",
    "OBS_OTEL_PROMPT_PREVIEW_BYTES": "otel_prompt_preview_bytes",
    "LOG_LEVEL": "log_level",
    "HUGE_PAGES": "huge_pages",
}
_OTEL_FIELDS: dict[str, str] = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "otlp_endpoint",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "otlp_traces_endpoint",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "otlp_metrics_endpoint",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "otlp_logs_endpoint",
    "OTEL_SERVICE_NAME": "otel_service_name",
    "OTEL_RESOURCE_ATTRIBUTES": "otel_resource_attributes",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings named by environment variables, as raw field values."""
    out: dict[str, Any] = {}
    for suffix, field in _ENV_FIELDS.items():
        if (value := environ.get(ENV_PREFIX + suffix)) is not None:
            out[field] = value
    for name, field in _OTEL_FIELDS.items():
        if (value := environ.get(name)) is not None:
            out[field] = value
    if out.get("otlp_endpoint") and "otel_enabled" not in out:
        out["otel_enabled"] = "true"
    return out


def _coerce(field: str, value: Any, annotations: Mapping[str, Any]) -> Any:
    if not isinstance(value, str):
        return value
    kind = annotations.get(field)
    try:
        if kind == "bool":
            lowered = value.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise ValueError(f"expected true or false, got {value!r}")
            return lowered in _TRUE
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
    except ValueError as exc:
        raise ConfigError(f"setting {field}: {exc}") from None
    return value


def load(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    profile: Mapping[str, Any] | None = None,
) -> Settings:
    """Resolve the settings: defaults < profile < environment < `overrides` (CLI flags)."""
    env = os.environ if environ is None else environ
    annotations = Settings.__annotations__
    merged: dict[str, Any] = {}
    for layer in (profile or {}, env_overrides(env), overrides or {}):
        for key, value in layer.items():
            if value is not None:
                merged[key] = _coerce(key, value, annotations)
    data_dir = Path(merged.pop("data_dir", None) or default_data_dir()).expanduser()
    merged.setdefault("db_path", data_dir / "code-agent-lens.db")
    merged.setdefault("dump_dir", data_dir / "observability")
    merged["db_path"] = Path(merged["db_path"]).expanduser()
    merged["dump_dir"] = Path(merged["dump_dir"]).expanduser()
    try:
        return msgspec.convert(
            {"data_dir": data_dir, **merged}, Settings, strict=False, from_attributes=False
        )
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid setting: {exc}") from None


def secret_from_env(var: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of an environment variable that holds a secret (an endpoint's --api-key-env)."""
    env = os.environ if environ is None else environ
    return env.get(var) or None


HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"


def huge_page_environ(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The environment in which a new interpreter keeps its objects on transparent huge pages,
    or None when this process has one already, the user chose an allocator of their own, or
    the setting `huge_pages` is off.

    Python's own allocator maps 1 MB arenas that the kernel backs with 4 KB pages. With
    `PYTHONMALLOC=malloc` every object comes from glibc's malloc, and the tunable
    `glibc.malloc.hugetlb=1` (glibc 2.35 and later) makes malloc ask for 2 MB pages.
    """
    env = os.environ if environ is None else environ
    if "PYTHONMALLOC" in env:
        return None
    try:
        if not load(environ=env).huge_pages:
            return None
    except ConfigError:
        return None  # the command itself reports the setting
    tunables = env.get("GLIBC_TUNABLES", "")
    joined = f"{tunables}:{HUGETLB_TUNABLE}" if tunables else HUGETLB_TUNABLE
    return {**env, "PYTHONMALLOC": "malloc", "GLIBC_TUNABLES": joined}


def parse_host_port(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """`HOST:PORT`, `:PORT`, `PORT` or `[v6]:PORT` -> (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "", value
    host = host.strip("[]") or default_host
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{value!r} is not HOST:PORT") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"port {number} is out of range")
    return host, number
