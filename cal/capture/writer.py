"""The capture writer: a runtime service that turns finished exchanges into bundles and index rows.

The gateway calls `submit_nowait` (never blocks; a full channel counts and logs a drop). The
service drains the channel in batches, at most one per `WINDOW_S` unless a batch is full; each
batch is built, written and indexed in one worker thread (one at a time, shared with retention),
with one index transaction, so the trio loop never waits on the disk. On stop it drains what is
queued for at most `shutdown_grace_s`; whatever is left is counted as dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

import msgspec
import trio

from cal.capture import disk
from cal.capture.bundle import build_bundle, bundle_prompts
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.retention import PruneResult, RetentionLimits, prune
from cal.capture.rows import request_row, search_text
from cal.config import Settings
from cal.service import DropCounter, drain_in_batches, send_or_drop
from cal.store.db import Database
from cal.store.requests import RequestRow, insert_requests

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1024
BATCH = 256
WINDOW_S = 0.05
"""Batches are at least this far apart (unless full): one thread hop and one transaction serve
every exchange that finished in the meantime."""


class CaptureStatistics(msgspec.Struct, frozen=True):
    """What the portal's status shows about the writer."""

    written: int
    dropped: int
    queued: int
    failed: int
    bytes_written: int
    pruned: int
    last_error: str | None


class _BatchResult(msgspec.Struct):
    written: int = 0
    failed: int = 0
    bytes_written: int = 0
    last_error: str | None = None


class CaptureWriter:
    """Service `capture` and ExchangeSink: bundles on disk plus rows in the request index."""

    name = "capture"

    def __init__(
        self,
        settings: Settings,
        *,
        capacity: int = DEFAULT_CAPACITY,
        retention_interval_s: float = 60.0,
        current_run: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.retention_interval_s = retention_interval_s
        self.current_run = current_run
        self._clock = clock
        self._send, self._receive = trio.open_memory_channel[Exchange](capacity)
        self._limiter = trio.CapacityLimiter(1)
        self._written = self._failed = self._bytes = self._pruned = 0
        self._last_error: str | None = None
        self._drops = DropCounter(
            log, "capture: %d exchange(s) dropped (writer queue full or stopped); %d in total"
        )

    # -- ExchangeSink -----------------------------------------------------------------------

    def submit_nowait(self, exchange: Exchange) -> bool:
        """Queue `exchange`; False (and a counted, rate-limited logged drop) when full or closed."""
        return send_or_drop(self._send, exchange, self._drops)

    def statistics(self) -> CaptureStatistics:
        """Counters since start."""
        return CaptureStatistics(
            written=self._written,
            dropped=self._drops.total,
            queued=self._receive.statistics().current_buffer_used,
            failed=self._failed,
            bytes_written=self._bytes,
            pruned=self._pruned,
            last_error=self._last_error,
        )

    # -- Service ----------------------------------------------------------------------------

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the index, then write until `stop`, then drain (bounded) and return."""
        db = await trio.to_thread.run_sync(Database.open, self.settings.db_path)
        try:
            await self._in_thread(self._startup)
            task_status.started(f"capture writer {self.settings.dump_dir}")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._retention_loop, db)
                await self._consume(db, stop)
                nursery.cancel_scope.cancel()
            await self._in_thread(self._shutdown)
        finally:
            db.close()

    async def _in_thread(self, fn: Callable[[], object]) -> object:
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

    def _startup(self) -> None:
        if self.settings.dump_enabled:
            self.settings.dump_dir.mkdir(mode=disk.DIR_MODE, parents=True, exist_ok=True)
            if removed := disk.remove_incomplete(self.settings.dump_dir):
                log.warning("capture: removed %d bundle(s) a crash left unfinished", len(removed))

    def _shutdown(self) -> None:
        if self.settings.dump_enabled:
            disk.clear_in_progress(self.settings.dump_dir)

    async def _consume(self, db: Database, stop: trio.Event) -> None:
        await drain_in_batches(
            self._send,
            self._receive,
            stop,
            self.settings.shutdown_grace_s,
            BATCH,
            partial(self._write_batch, db),
            self._drops,
            WINDOW_S,
        )

    async def _write_batch(self, db: Database, batch: list[Exchange]) -> None:
        result = await trio.to_thread.run_sync(self._write_sync, db, batch, limiter=self._limiter)
        self._written += result.written
        self._failed += result.failed
        self._bytes += result.bytes_written
        if result.last_error is not None:
            self._last_error = result.last_error

    def _write_sync(self, db: Database, batch: list[Exchange]) -> _BatchResult:
        result = _BatchResult()
        settings = self.settings
        paths: list[str | None] = [None] * len(batch)
        if settings.dump_enabled:
            paths = [disk.bundle_rel_path(exchange) for exchange in batch]
            try:
                disk.note_in_progress(settings.dump_dir, [p for p in paths if p])
            except OSError as exc:  # the bundles below will say what is wrong with the disk
                log.warning("capture: cannot note the bundles in progress: %s", exc)
        rows: list[tuple[RequestRow, str]] = []
        lines: list[tuple[str, bytes]] = []
        for exchange, rel_path in zip(batch, paths, strict=True):
            try:
                rows.append(self._write_bundle(exchange, rel_path, result))
            except Exception as exc:  # one bad bundle must not stop the others…
                self._note_failure(result, exchange, exc)
                bare = request_row(
                    exchange, [], bundle_path=None, bundle_bytes=0, secrets=settings.capture_secrets
                )
                rows.append((bare, ""))  # …and the request is still listed, without a bundle
            else:
                if rel_path is not None:
                    lines.append((exchange.run_id, disk.request_line(exchange, rel_path)))
        if lines:
            try:
                disk.append_request_lines(settings.dump_dir, lines)
            except OSError as exc:  # the index is what counts: go on
                result.last_error = redact_text(f"requests.jsonl not written: {exc}")
                log.error("capture: %s", result.last_error)
        try:
            with db.write() as conn:
                insert_requests(conn, rows)
        except Exception as exc:
            result.written, result.failed = 0, len(batch)
            result.last_error = redact_text(f"index write failed: {exc}")
            log.error("capture: %s", result.last_error)
        return result

    def _write_bundle(
        self, exchange: Exchange, rel_path: str | None, result: _BatchResult
    ) -> tuple[RequestRow, str]:
        settings = self.settings
        size = 0
        if rel_path is not None:
            with disk.BundleFiles(settings.dump_dir, rel_path) as files:
                bundle = build_bundle(exchange, settings, on_file=files.add)
                size = files.finish(bundle.manifest)
            prompts = bundle.prompts
        else:
            prompts = bundle_prompts(exchange, settings)
        row = request_row(
            exchange,
            prompts,
            bundle_path=rel_path,
            bundle_bytes=size,
            secrets=settings.capture_secrets,
        )
        result.written += 1
        result.bytes_written += size
        return row, search_text(prompts)

    def _note_failure(self, result: _BatchResult, exchange: Exchange, exc: Exception) -> None:
        result.failed += 1
        result.last_error = redact_text(f"request {exchange.request_id}: {exc}")
        log.error("capture: cannot write bundle: %s", result.last_error)

    # -- retention --------------------------------------------------------------------------

    async def _retention_loop(self, db: Database) -> None:
        while True:
            result = await self.prune_now(db)
            if result.requests:
                log.info(
                    "capture retention: removed %d request(s), %d run(s), %d bytes",
                    result.requests,
                    result.runs,
                    result.bytes,
                )
            await trio.sleep(self.retention_interval_s)

    async def prune_now(self, db: Database) -> PruneResult:
        """One retention pass (in the writer's thread slot)."""
        limits = RetentionLimits.from_settings(self.settings)

        def work() -> PruneResult:
            return prune(
                db, self.settings.dump_dir, limits, now=self._clock(), current_run=self.current_run
            )

        try:
            result = await trio.to_thread.run_sync(work, limiter=self._limiter)
        except Exception as exc:
            self._last_error = redact_text(f"retention failed: {exc}")
            log.error("capture: %s", self._last_error)
            return PruneResult()
        self._pruned += result.requests
        return result
