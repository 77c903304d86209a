"""Telemetry: the exchange sink, the exporter service, Prometheus metrics and the OTLP log handler.

The gateway only calls `submit_nowait` (a channel send) and the cheap counter methods; everything
else happens in `run`, a sibling service. With `otel_enabled` false nothing from opentelemetry is
imported: exchanges still update the Prometheus metrics, but no spans, OTLP metrics or logs exist.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

import msgspec
import trio

from cal.capture.model import Exchange
from cal.config import Settings
from cal.telemetry import names as n
from cal.telemetry.endpoints import resource_attributes, signal_urls
from cal.telemetry.logs import LogBuffer, OtlpLogHandler
from cal.telemetry.measures import LabelLimiter, Observation, observe_exchange
from cal.telemetry.prom import PrometheusMetrics

if TYPE_CHECKING:
    import httpx

    from cal.telemetry.exporter import OtlpExporter

log = logging.getLogger(__name__)


class TelemetryStatistics(msgspec.Struct):
    """A snapshot for status pages and tests."""

    enabled: bool
    queued: int
    exchanges: int
    dropped: dict[str, int]
    spans_exported: int = 0
    logs_exported: int = 0
    metric_exports: int = 0
    export_failures: int = 0
    last_error: str | None = None
    endpoints: dict[str, str] = msgspec.field(default_factory=dict)


class Telemetry:
    """One per process: build with Settings, start `run` in the root nursery, submit exchanges."""

    name = "telemetry"

    def __init__(
        self,
        settings: Settings,
        *,
        run_id: str | None = None,
        queue_size: int = 4096,
        flush_interval: float = 1.0,
        metrics_interval: float = 10.0,
        shutdown_timeout: float = 2.0,
        preview_bytes: int = 0,
    ) -> None:
        """Args:
        settings: otel_enabled, the OTLP endpoints, service name and resource attributes.
        run_id: the runtime's run id, put on the OTel resource.
        queue_size: exchanges that may wait for the exporter before new ones are dropped.
        flush_interval: seconds between span/log posts (sooner when a batch fills).
        metrics_interval: seconds between OTLP metric exports.
        shutdown_timeout: the most `run` spends on its final flush after `stop`.
        preview_bytes: opt-in prompt/response preview size on spans (0 = no text on spans).
        """
        self.enabled = settings.otel_enabled
        self.shutdown_timeout = shutdown_timeout
        self._limiter = LabelLimiter()
        self._prom = PrometheusMetrics()
        self._send, self._receive = trio.open_memory_channel[Exchange](queue_size)
        self._exchanges = 0
        self._dropped: dict[str, int] = {}
        self._logs = LogBuffer()
        self._handler: logging.Handler | None = None
        self._exporter: OtlpExporter | None = None
        if self.enabled:
            self._exporter = self._build_exporter(
                settings, run_id, (flush_interval, metrics_interval), preview_bytes
            )

    # --- the hot path ------------------------------------------------------------------------
    def submit_nowait(self, exchange: Exchange) -> bool:
        """Queue a finished exchange; False (and counted) when the queue is full or closed."""
        try:
            self._send.send_nowait(exchange)
        except trio.WouldBlock:
            self._on_drop("exchanges", "queue_full", 1)
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._on_drop("exchanges", "stopped", 1)
            return False
        return True

    def endpoint_switched(self, endpoint: str, reason: str = "manual") -> None:
        """Count a change of the active endpoint (to `endpoint`)."""
        self.count(n.ENDPOINT_SWITCHES, endpoint=endpoint, reason=reason)

    def credential_cooldown(self, endpoint: str, reason: str = "rate_limited") -> None:
        """Count a credential put on cooldown."""
        self.count(n.CREDENTIAL_COOLDOWNS, endpoint=endpoint, reason=reason)

    def capture_dropped(self, reason: str = "queue_full") -> None:
        """Count an exchange the capture writer could not take."""
        self.count(n.CAPTURE_DROPS, reason=reason)

    def count(self, spec: n.MetricSpec, value: float = 1, **labels: str) -> None:
        """Add `value` to a counter declared in `names` (cheap, sync, never blocks)."""
        self._record(Observation(spec, self._limiter.labels(spec, labels), (value,)))

    # --- readers -----------------------------------------------------------------------------
    def metrics_payload(self) -> tuple[bytes, str]:
        """(body, content type) for the portal's `/metrics`."""
        return self._prom.payload()

    def log_handler(self, level: int = logging.INFO) -> logging.Handler:
        """A handler to add to the root logger: OTLP export of log records when enabled (a
        NullHandler otherwise). The same handler is returned on every call."""
        if self._handler is None:
            enabled = self._exporter is not None
            self._handler = OtlpLogHandler(self._logs, level) if enabled else logging.NullHandler()
        return self._handler

    def statistics(self) -> TelemetryStatistics:
        """Counts so far."""
        stats = TelemetryStatistics(
            enabled=self.enabled,
            queued=self._send.statistics().current_buffer_used,
            exchanges=self._exchanges,
            dropped=dict(self._dropped),
        )
        if self._exporter is not None:
            done = self._exporter.stats
            stats.spans_exported, stats.logs_exported = done.spans_exported, done.logs_exported
            stats.metric_exports, stats.export_failures = done.metric_exports, done.failures
            stats.last_error, stats.endpoints = done.last_error, dict(self._exporter.urls)
        return stats

    # --- the service -------------------------------------------------------------------------
    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Drain exchanges and export until `stop`; then flush for at most `shutdown_timeout` s."""
        exporter = self._exporter
        if exporter is None:
            await self._serve(stop, None, task_status)
            await self._finish(None)
            return
        async with exporter.client() as client:
            await self._serve(stop, client, task_status)
            await self._finish(client)

    async def _serve(
        self,
        stop: trio.Event,
        client: httpx.AsyncClient | None,
        task_status: trio.TaskStatus[str],
    ) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._drain)
            if self._exporter is not None and client is not None:
                nursery.start_soon(self._exporter.run_flusher, client)
            task_status.started(self._describe())
            await stop.wait()
            nursery.cancel_scope.cancel()

    async def _finish(self, client: httpx.AsyncClient | None) -> None:
        """Take what is queued and flush it, all within `shutdown_timeout`; count the rest."""
        with trio.move_on_after(self.shutdown_timeout) as scope:
            for done in itertools.count(1):
                try:
                    self._process(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
                if done % 64 == 0:
                    await trio.lowlevel.checkpoint()
            if self._exporter is not None and client is not None:
                await self._exporter.flush(client, final=True)
        self._receive.close()
        if scope.cancelled_caught:
            left = self._send.statistics().current_buffer_used
            if left:
                self._on_drop("exchanges", "stopped", left)
            log.warning("telemetry: final flush cut after %.1f s", self.shutdown_timeout)

    async def _drain(self) -> None:
        async for exchange in self._receive:
            self._process(exchange)

    def _process(self, exchange: Exchange) -> None:
        self._exchanges += 1
        try:
            for observation in observe_exchange(exchange, self._limiter):
                self._prom.record(observation)
            if self._exporter is not None:
                self._exporter.add_exchange(exchange)
        except Exception:  # a malformed record must not stop the exporter
            log.exception("telemetry: could not use exchange %s", exchange.request_id)
            self._on_drop("exchanges", "invalid", 1)

    def _record(self, observation: Observation) -> None:
        self._prom.record(observation)

    def _on_drop(self, signal: str, reason: str, count: int) -> None:
        key = f"{signal}.{reason}"
        self._dropped[key] = self._dropped.get(key, 0) + count
        self.count(n.TELEMETRY_DROPS, count, signal=signal, reason=reason)

    def _build_exporter(
        self,
        settings: Settings,
        run_id: str | None,
        intervals: tuple[float, float],
        preview_bytes: int,
    ) -> OtlpExporter:
        from cal.telemetry.exporter import OtlpExporter
        from cal.telemetry.otlp import OtlpEncoder

        resource = resource_attributes(settings, run_id)
        encoder = OtlpEncoder(resource, settings.portal_url, preview_bytes)
        return OtlpExporter(
            encoder,
            signal_urls(settings),
            self._prom.registry,
            self._logs,
            self._on_drop,
            flush_interval=intervals[0],
            metrics_interval=intervals[1],
        )

    def _describe(self) -> str:
        if self._exporter is None:
            return "telemetry: Prometheus metrics only (OTLP export off)"
        return f"telemetry: OTLP/HTTP to {self._exporter.urls['traces'].rsplit('/v1/', 1)[0]}"
