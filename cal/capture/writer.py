"""The capture writer: a runtime service that turns finished exchanges into bundles and index rows.

The gateway calls `submit_nowait` (never blocks; a full channel counts and logs a drop). The
service drains the channel in batches, at most one per `WINDOW_S` unless a batch is full, and
hands each to the capture engine (cal/capture/engine.py), which writes its bundles and indexes
them in one transaction. The engine runs in the capture worker process (cal/capture/worker.py),
which takes each batch off its pipe at once and reports what it wrote as it goes, so the loop
spends no GIL time on the disk and never waits for it; where no worker can be started it runs in
a worker thread (cal/capture/engines.py). Retention passes run in the engine between batches.
On stop the queue is handed over and the engine gets `shutdown_grace_s` to write it; whatever is
left is counted as dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec
import trio

from cal.capture.engine import BatchResult
from cal.capture.engines import CaptureWorkerError, Engine, WorkerProcess, start_engine
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.retention import PruneResult
from cal.config import Settings
from cal.service import DropCounter, drain_in_batches, send_or_drop

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1024
BATCH = 256
WINDOW_S = 0.05
"""Batches are at least this far apart (unless full): one hand-over and one transaction serve
every exchange that finished in the meantime."""
STOP_MARGIN_S = 5.0
"""How long past its `shutdown_grace_s` the worker may take to exit before it is killed."""


class CaptureStatistics(msgspec.Struct, frozen=True):
    """What the portal's status shows about the writer."""

    written: int
    dropped: int
    queued: int
    failed: int
    bytes_written: int
    pruned: int
    last_error: str | None


class CaptureWriter:
    """Service `capture` and ExchangeSink: bundles on disk plus rows in the request index.

    `process`: run the engine in the worker process (True), in a thread (False), or in the
    process wherever one can be started (None).
    """

    name = "capture"

    def __init__(
        self,
        settings: Settings,
        *,
        capacity: int = DEFAULT_CAPACITY,
        retention_interval_s: float = 60.0,
        current_run: str | None = None,
        clock: Callable[[], float] = time.time,
        process: bool | None = None,
    ) -> None:
        self.settings = settings
        self.retention_interval_s = retention_interval_s
        self.current_run = current_run
        self._clock = clock
        self._process = process
        self._send, self._receive = trio.open_memory_channel[Exchange](capacity)
        self._written = self._failed = self._bytes = self._pruned = 0
        self._handed = 0
        """Exchanges handed to the engine and not yet written (or failed, or dropped)."""
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
            queued=self._receive.statistics().current_buffer_used + self._handed,
            failed=self._failed,
            bytes_written=self._bytes,
            pruned=self._pruned,
            last_error=self._last_error,
        )

    # -- Service ----------------------------------------------------------------------------

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the engine, then write until `stop`, then drain (bounded) and return.

        Ready at once: what is submitted while the engine starts waits in the queue.
        """
        engine = start_engine(self.settings, process=self._process)
        where = "worker process" if isinstance(engine, WorkerProcess) else "thread"
        task_status.started(f"capture writer {self.settings.dump_dir} ({where})")
        grace = self.settings.shutdown_grace_s
        try:
            async with trio.open_nursery() as engine_tasks:
                for note in await engine.open(engine_tasks, self._count, self._dropped):
                    log.warning("capture: %s", note)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._retention_loop, engine)
                    await drain_in_batches(
                        self._send,
                        self._receive,
                        stop,
                        grace,
                        BATCH,
                        lambda batch: self._hand_over(engine, batch),
                        self._drops,
                        WINDOW_S,
                    )
                    nursery.cancel_scope.cancel()
                await engine.close(grace + STOP_MARGIN_S)  # its last results come in here
                engine_tasks.cancel_scope.cancel()
        finally:
            await engine.close(STOP_MARGIN_S)
            if self._handed:  # handed over, and neither written nor reported: lost
                self._drops.add(self._handed)
                self._handed = 0

    async def _hand_over(self, engine: Engine, batch: list[Exchange]) -> None:
        self._handed += len(batch)
        await engine.write(batch)

    def _count(self, result: BatchResult) -> None:
        self._handed -= result.written + result.failed
        self._written += result.written
        self._failed += result.failed
        self._bytes += result.bytes_written
        for error in result.errors:
            log.error("capture: %s", error)
        if result.errors:
            self._last_error = result.errors[-1]

    def _dropped(self, count: int) -> None:
        self._handed -= count
        self._drops.add(count)

    # -- retention --------------------------------------------------------------------------

    async def _retention_loop(self, engine: Engine) -> None:
        while True:
            result = await self.prune_now(engine)
            if result.requests:
                log.info(
                    "capture retention: removed %d request(s), %d run(s), %d bytes",
                    result.requests,
                    result.runs,
                    result.bytes,
                )
            await trio.sleep(self.retention_interval_s)

    async def prune_now(self, engine: Engine) -> PruneResult:
        """One retention pass, in the engine between two batches."""
        try:
            result = await engine.prune(self._clock(), self.current_run)
        except CaptureWorkerError:
            raise
        except Exception as exc:
            self._last_error = redact_text(f"retention failed: {exc}")
            log.error("capture: %s", self._last_error)
            return PruneResult()
        self._pruned += result.requests
        return result
