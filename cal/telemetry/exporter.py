"""The trio-native OTLP/HTTP exporter: pending batches, posts with httpx, backoff, no threads.

Spans and log records wait in bounded lists until a flush posts them (batches of `BATCH`); a
failed post that may succeed later keeps its batch and backs off (0.5 s doubling to 30 s); a
rejected one (4xx other than 429) is dropped and counted. Metrics are cumulative and read from the
Prometheus registry, so each export sends every series and a failed one is simply sent again later.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from enum import Enum

import httpx
import trio
from opentelemetry.sdk.trace import ReadableSpan
from prometheus_client import CollectorRegistry

from cal.capture.model import Exchange
from cal.telemetry.logs import LogBuffer, LogItem
from cal.telemetry.otlp import OtlpEncoder

log = logging.getLogger(__name__)

BATCH = 512
ENCODE_SLICE = 32
"""Spans encoded between two checkpoints (about 2 ms of CPU on this machine)."""
MAX_PENDING_SPANS = 16384
MAX_PENDING_LOGS = 4096
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
_RETRYABLE = frozenset({408, 429, 502, 503, 504})
_PROTOBUF = {"content-type": "application/x-protobuf"}

DropCallback = Callable[[str, str, int], None]
"""(signal, reason, count) of items dropped."""


class PostResult(Enum):
    OK = "ok"
    RETRY = "retry"
    REJECTED = "rejected"


class ExportStats:
    """What the exporter has done so far (read by Telemetry.statistics)."""

    def __init__(self) -> None:
        self.spans_exported = 0
        self.logs_exported = 0
        self.metric_exports = 0
        self.failures = 0
        self.last_error: str | None = None


class OtlpExporter:
    """Owns the OTLP encoder, the pending batches and the posting schedule."""

    def __init__(
        self,
        encoder: OtlpEncoder,
        urls: dict[str, str],
        registry: CollectorRegistry,
        logs: LogBuffer,
        on_drop: DropCallback,
        *,
        flush_interval: float = 1.0,
        metrics_interval: float = 10.0,
        timeout: float = 5.0,
    ) -> None:
        self.encoder = encoder
        self.urls = urls
        self.registry = registry
        self.logs = logs
        self.on_drop = on_drop
        self.flush_interval = flush_interval
        self.metrics_interval = metrics_interval
        self.timeout = timeout
        self.stats = ExportStats()
        self._spans: list[ReadableSpan] = []
        self._log_items: list[LogItem] = []
        self._wake = trio.Event()
        self._retry_at = 0.0
        self._delay = BACKOFF_START_S
        self._next_metrics = 0.0

    def client(self) -> httpx.AsyncClient:
        """The HTTP client for OTLP posts: short timeouts, small pool, no env proxies."""
        timeout = httpx.Timeout(self.timeout, connect=min(2.0, self.timeout))
        limits = httpx.Limits(max_connections=3, max_keepalive_connections=3)
        return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)

    def add_exchange(self, exchange: Exchange) -> None:
        """Build the exchange's spans and queue them (dropped and counted when too many wait)."""
        spans = self.encoder.build_spans(exchange)
        room = MAX_PENDING_SPANS - len(self._spans)
        if room < len(spans):
            self.on_drop("spans", "buffer_full", len(spans))
            return
        self._spans.extend(spans)
        if len(self._spans) >= BATCH:
            self._wake.set()

    async def run_flusher(self, client: httpx.AsyncClient) -> None:
        """Flush every `flush_interval` s, or sooner when a batch is full; runs until cancelled."""
        self._next_metrics = trio.current_time() + self.metrics_interval
        while True:
            with trio.move_on_after(self.flush_interval):
                await self._wake.wait()
            self._wake = trio.Event()
            await self.flush(client)

    async def flush(self, client: httpx.AsyncClient, *, final: bool = False) -> None:
        """Post what is pending; `final` ignores the backoff and always exports metrics."""
        if not final and trio.current_time() < self._retry_at:
            return
        self._collect()
        ok = await self._flush_spans(client) and await self._flush_logs(client)
        if ok and (final or trio.current_time() >= self._next_metrics):
            await self._flush_metrics(client)

    def _collect(self) -> None:
        if self.logs.dropped:
            self.on_drop("logs", "buffer_full", self.logs.dropped)
            self.logs.dropped = 0
        room = MAX_PENDING_LOGS - len(self._log_items)
        self._log_items.extend(self.logs.take(room))

    async def _flush_spans(self, client: httpx.AsyncClient) -> bool:
        while self._spans:
            batch = self._spans[:BATCH]
            body = await self._encode_in_slices(batch)
            result = await self._post(client, "traces", body)
            if result is PostResult.RETRY:
                return False
            del self._spans[: len(batch)]
            if result is PostResult.OK:
                self.stats.spans_exported += len(batch)
            else:
                self.on_drop("spans", "rejected", len(batch))
        return True

    async def _encode_in_slices(self, spans: list[ReadableSpan]) -> bytes:
        """Encode `ENCODE_SLICE` spans at a time, yielding to the gateway's tasks in between.

        Serialized protobuf messages concatenate into their merge (repeated fields append), so
        the joined slices are one valid ExportTraceServiceRequest.
        """
        parts = []
        for start in range(0, len(spans), ENCODE_SLICE):
            parts.append(self.encoder.encode_spans(spans[start : start + ENCODE_SLICE]))
            await trio.lowlevel.checkpoint()
        return b"".join(parts)

    async def _flush_logs(self, client: httpx.AsyncClient) -> bool:
        while self._log_items:
            batch = self._log_items[:BATCH]
            result = await self._post(client, "logs", self.encoder.encode_logs(batch))
            if result is PostResult.RETRY:
                return False
            del self._log_items[: len(batch)]
            if result is PostResult.OK:
                self.stats.logs_exported += len(batch)
            else:
                self.on_drop("logs", "rejected", len(batch))
        return True

    async def _flush_metrics(self, client: httpx.AsyncClient) -> None:
        self._next_metrics = trio.current_time() + self.metrics_interval
        body = self.encoder.encode_metrics(self.registry)
        if body is not None and await self._post(client, "metrics", body) is PostResult.OK:
            self.stats.metric_exports += 1

    async def _post(self, client: httpx.AsyncClient, signal: str, body: bytes) -> PostResult:
        url = self.urls[signal]
        try:
            response = await client.post(url, content=body, headers=_PROTOBUF)
        except httpx.HTTPError as exc:
            return self._failed(f"{signal}: {url}: {type(exc).__name__}: {exc}", retry=True)
        status = response.status_code
        if 200 <= status < 300:
            self._delay = BACKOFF_START_S
            self._retry_at = 0.0
            return PostResult.OK
        message = f"{signal}: {url} answered {status}"
        return self._failed(message, retry=status in _RETRYABLE)

    def _failed(self, message: str, *, retry: bool) -> PostResult:
        if message != self.stats.last_error:
            log.warning("OTLP export failed: %s", message)
        self.stats.failures += 1
        self.stats.last_error = message
        if not retry:
            return PostResult.REJECTED
        jitter = random.uniform(0.8, 1.2)
        self._retry_at = trio.current_time() + self._delay * jitter
        self._delay = min(self._delay * 2, BACKOFF_MAX_S)
        return PostResult.RETRY
