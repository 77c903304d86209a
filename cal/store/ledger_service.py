"""The ledger service: adds every finished exchange to the usage ledger, off the hot path.

The gateway calls `submit_nowait` (never blocks): the exchange is reduced at once to a small
LedgerEntry (so the queue holds no bodies) and queued on a bounded trio memory channel; a full
or closed queue counts a drop. The service drains the queue in batches (at most one per
`WINDOW_S` unless full, so a steady trickle costs one thread hop and one commit per window), adds
each batch up per ledger key and writes it in one transaction in a worker thread. It keeps the totals of the recent
days it wrote in memory, so `today()` (the status API) never touches the disk. On stop it drains
what is queued for at most `grace_s`; whatever is left is counted as dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import msgspec
import trio

from cal.capture.model import Exchange
from cal.service import DropCounter, drain_in_batches, send_or_drop
from cal.store.db import Database
from cal.store.ledger import (
    LedgerEntry,
    LedgerKey,
    Totals,
    add_totals,
    aggregate,
    day_totals,
    ledger_entry,
    utc_day,
)
from cal.usage.prices import PriceTable

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 4096
BATCH = 1024
WINDOW_S = 0.1
"""Batches are at least this far apart unless full (the status API's totals lag by as much)."""
RECENT_DAYS = 3
"""Days of totals kept in memory for `today()` (today, yesterday, and a clock-skew spare)."""


class LedgerStatistics(msgspec.Struct, frozen=True):
    """What the status API shows about the ledger."""

    recorded: int
    dropped: int
    queued: int
    failed: int
    last_error: str | None
    today: dict[str, object]
    """Today's totals (`UsageLedger.today()`)."""


class UsageLedger:
    """Service `ledger` and ExchangeSink: usage, token and cost totals in SQLite."""

    name = "ledger"

    def __init__(
        self,
        db_path: Path,
        *,
        capacity: int = DEFAULT_CAPACITY,
        grace_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        table: PriceTable | None = None,
    ) -> None:
        self.db_path = db_path
        self.grace_s = grace_s
        self._clock = clock
        self._table = table
        self._send, self._receive = trio.open_memory_channel[LedgerEntry](capacity)
        self._recorded = self._failed = 0
        self._last_error: str | None = None
        self._recent: dict[str, Totals] = {}
        self._drops = DropCounter(
            log, "ledger: %d request(s) not accounted (queue full or stopped); %d in total"
        )

    # -- ExchangeSink -----------------------------------------------------------------------

    def submit_nowait(self, exchange: Exchange) -> bool:
        """Queue what `exchange` adds to the ledger; False (a counted drop) when full or closed."""
        try:
            entry = ledger_entry(exchange, self._table)
        except Exception as exc:  # a bug here must never reach the gateway
            self._failed += 1
            self._last_error = f"cannot account request {exchange.request_id}: {exc}"
            log.error("ledger: %s", self._last_error)
            return False
        return send_or_drop(self._send, entry, self._drops)

    # -- status -----------------------------------------------------------------------------

    def statistics(self) -> LedgerStatistics:
        """Counters since start."""
        return LedgerStatistics(
            recorded=self._recorded,
            dropped=self._drops.total,
            queued=self._receive.statistics().current_buffer_used,
            failed=self._failed,
            last_error=self._last_error,
            today=self.today(),
        )

    def today(self) -> dict[str, object]:
        """Today's totals (UTC day), as written so far, for the status API."""
        day = utc_day(self._clock())
        totals = self._recent.get(day, Totals())
        return {"day": day, **totals.to_dict(), "dropped": self._drops.total}

    # -- Service ----------------------------------------------------------------------------

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the database, load today's totals, then account until `stop`, then drain."""
        db = await trio.to_thread.run_sync(Database.open, self.db_path)
        try:
            today = utc_day(self._clock())
            self._recent[today] = await trio.to_thread.run_sync(_read_day, db, today)
            task_status.started(f"usage ledger {self.db_path}")
            await self._consume(db, stop)
        finally:
            db.close()

    async def _consume(self, db: Database, stop: trio.Event) -> None:
        await drain_in_batches(
            self._send,
            self._receive,
            stop,
            self.grace_s,
            BATCH,
            partial(self._write_batch, db),
            self._drops,
            WINDOW_S,
        )

    async def _write_batch(self, db: Database, batch: list[LedgerEntry]) -> None:
        totals = aggregate(batch)
        try:
            await trio.to_thread.run_sync(_write, db, totals)
        except Exception as exc:
            self._failed += len(batch)
            self._last_error = f"ledger write failed: {exc}"
            log.error("ledger: %s", self._last_error)
            return
        self._recorded += len(batch)
        self._remember(totals)

    def _remember(self, totals: dict[LedgerKey, Totals]) -> None:
        for key, added in totals.items():
            self._recent.setdefault(key.day, Totals()).add(added)
        for day in sorted(self._recent)[:-RECENT_DAYS]:
            del self._recent[day]


def _read_day(db: Database, day: str) -> Totals:
    with db.read() as conn:
        return day_totals(conn, day)


def _write(db: Database, totals: dict[LedgerKey, Totals]) -> None:
    with db.write() as conn:
        add_totals(conn, totals)
