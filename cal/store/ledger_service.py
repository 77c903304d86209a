"""The ledger service: adds every finished exchange to the usage ledger, off the hot path.

The gateway calls `submit_nowait` (never blocks): the exchange is reduced at once to what it adds
to its ledger key and added to the pending totals in memory (a few µs; they hold one Totals per
key, however many requests come). Every `WINDOW_S` the service takes the pending totals and
writes them in one transaction in a worker thread: one thread hop and one commit per window, and
nothing to drop when a hop is slow: while the loop is saturated, a worker thread can wait
seconds for the GIL (each time the loop lets go of it for a system call, the waiting thread's
5 ms timer starts again, and the loop takes it back first), and the totals just wait with it.
`today()` (the status API) adds the recent days' written totals, kept in memory, to the pending
ones, so it never touches the disk and is never behind. On stop it writes what is pending; only
what is submitted after that is counted as dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import trio

from cal.capture.model import Exchange
from cal.service import DropCounter
from cal.store.db import Database
from cal.store.ledger import LedgerKey, Totals, add_totals, day_totals, ledger_entry, utc_day
from cal.usage.prices import PriceTable

log = logging.getLogger(__name__)

WINDOW_S = 0.1
"""How often the pending totals are written (the database lags the status API by as much)."""
RECENT_DAYS = 3
"""Days of totals kept in memory for `today()` (today, yesterday, and a clock-skew spare)."""


class LedgerStatistics(msgspec.Struct, frozen=True):
    """What the status API shows about the ledger."""

    recorded: int
    dropped: int
    queued: int
    """Requests added to the pending totals, not yet written."""
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
        grace_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        table: PriceTable | None = None,
    ) -> None:
        self.db_path = db_path
        self.grace_s = grace_s
        self._clock = clock
        self._table = table
        self._pending: dict[LedgerKey, Totals] = {}
        self._pending_count = 0
        self._closed = False
        self._recorded = self._failed = 0
        self._last_error: str | None = None
        self._recent: dict[str, Totals] = {}
        self._drops = DropCounter(
            log, "ledger: %d request(s) not accounted (the ledger had stopped); %d in total"
        )

    # -- ExchangeSink -----------------------------------------------------------------------

    def submit_nowait(self, exchange: Exchange) -> bool:
        """Add what `exchange` adds to the ledger; False (a counted drop) once stopped."""
        if self._closed:
            self._drops.add()
            return False
        try:
            entry = ledger_entry(exchange, self._table)
        except Exception as exc:  # a bug here must never reach the gateway
            self._failed += 1
            self._last_error = f"cannot account request {exchange.request_id}: {exc}"
            log.error("ledger: %s", self._last_error)
            return False
        self._pending.setdefault(entry.key, Totals()).add(entry.totals)
        self._pending_count += 1
        return True

    # -- status -----------------------------------------------------------------------------

    def statistics(self) -> LedgerStatistics:
        """Counters since start."""
        return LedgerStatistics(
            recorded=self._recorded,
            dropped=self._drops.total,
            queued=self._pending_count,
            failed=self._failed,
            last_error=self._last_error,
            today=self.today(),
        )

    def today(self) -> dict[str, object]:
        """Today's totals (UTC day), pending ones included, for the status API."""
        day = utc_day(self._clock())
        totals = Totals()
        totals.add(self._recent.get(day, Totals()))
        for key, pending in self._pending.items():
            if key.day == day:
                totals.add(pending)
        return {"day": day, **totals.to_dict(), "dropped": self._drops.total}

    # -- Service ----------------------------------------------------------------------------

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the database, load today's totals, then write every window until `stop`, then
        write what is pending."""
        db = await trio.to_thread.run_sync(Database.open, self.db_path)
        try:
            today = utc_day(self._clock())
            self._recent[today] = await trio.to_thread.run_sync(_read_day, db, today)
            task_status.started(f"usage ledger {self.db_path}")
            while not stop.is_set():
                with trio.move_on_after(WINDOW_S):
                    await stop.wait()
                await self._flush(db)
            self._closed = True  # from here on a submission is a counted drop
            await self._flush(db)
        finally:
            self._closed = True
            if self._pending_count:
                self._drops.add(self._pending_count)
                self._pending, self._pending_count = {}, 0
            db.close()

    async def _flush(self, db: Database) -> None:
        """Write the pending totals (shielded: taken is written, or counted as failed)."""
        if not self._pending_count:
            return
        totals, count = self._pending, self._pending_count
        self._pending, self._pending_count = {}, 0
        try:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_write, db, totals)
        except Exception as exc:
            self._failed += count
            self._last_error = f"ledger write failed: {exc}"
            log.error("ledger: %s", self._last_error)
            return
        self._recorded += count
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
