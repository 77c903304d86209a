"""The ledger service: exact totals under concurrency, day boundaries, counted drops."""

from __future__ import annotations

import calendar
import sqlite3
from pathlib import Path

import pytest
import trio
import trio.lowlevel
from ledger_samples import exchange

from cal.capture.model import Exchange, Usage
from cal.store.db import Database
from cal.store.ledger import daily_totals, day_totals, grouped_totals
from cal.store.ledger_service import UsageLedger

MIDNIGHT = calendar.timegm((2026, 11, 22, 0, 0, 0))


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _wait_recorded(ledger: UsageLedger, count: int) -> None:
    with trio.fail_after(10):
        while True:
            stats = ledger.statistics()
            if stats.recorded + stats.failed >= count:
                return
            await trio.sleep(0.005)


def _read(path: Path, day: str) -> tuple[int, int, int, int]:
    db = Database.open(path)
    try:
        with db.read() as conn:
            t = day_totals(conn, day)
    finally:
        db.close()
    return t.requests, t.errors, t.input_tokens, t.cost_nano_usd


async def test_many_concurrent_exchanges_add_up_exactly(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    ledger = UsageLedger(path, clock=Clock(MIDNIGHT - 3600))
    producers, per_producer = 20, 50

    async def produce(n: int) -> None:
        for i in range(per_producer):
            status = 500 if i % 10 == 0 else 200
            usage = Usage() if status == 500 else exchange().usage
            tag = "claude" if n % 2 else "codex"
            ex = exchange(request_id=f"r{n}-{i}", status=status, usage=usage, source_tag=tag)
            assert ledger.submit_nowait(ex)
            await trio.lowlevel.checkpoint()

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, stop)
        async with trio.open_nursery() as producers_nursery:
            for n in range(producers):
                producers_nursery.start_soon(produce, n)
        await _wait_recorded(ledger, producers * per_producer)
        today = ledger.today()
        stop.set()

    total = producers * per_producer
    errors = producers * (per_producer // 10)
    priced = total - errors
    assert ledger.statistics().recorded == total
    assert ledger.statistics().dropped == 0
    expected = (total, errors, priced * 1_000, priced * 31_500_000)
    assert _read(path, "2026-11-21") == expected
    assert today["day"] == "2026-11-21"
    assert (today["requests"], today["errors"], today["input_tokens"]) == expected[:3]
    assert today["cost_usd"] == pytest.approx(priced * 0.0315)
    db = Database.open(path)
    with db.read() as conn:
        tags = {k["source_tag"]: t.requests for k, t in grouped_totals(conn, ("source_tag",))}
    db.close()
    assert tags == {"claude": total // 2, "codex": total // 2}


async def test_day_boundary_splits_days_and_today_follows_the_clock(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    clock = Clock(MIDNIGHT - 1)
    ledger = UsageLedger(path, clock=clock)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, stop)
        ledger.submit_nowait(exchange(request_id="a", started_at=MIDNIGHT - 0.5))
        ledger.submit_nowait(exchange(request_id="b", started_at=MIDNIGHT - 0.001))
        await _wait_recorded(ledger, 2)
        assert ledger.today()["requests"] == 2
        clock.now = MIDNIGHT  # a new day: nothing yet
        fresh = ledger.today()
        assert (fresh["day"], fresh["requests"], fresh["cost_usd"]) == ("2026-11-22", 0, 0)
        ledger.submit_nowait(exchange(request_id="c", started_at=MIDNIGHT))
        await _wait_recorded(ledger, 3)
        assert ledger.today()["requests"] == 1
        stop.set()
    db = Database.open(path)
    with db.read() as conn:
        days = [(d, t.requests) for d, t in daily_totals(conn)]
    db.close()
    assert days == [("2026-11-21", 2), ("2026-11-22", 1)]


async def test_today_is_loaded_from_the_database_at_start(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    for run in range(2):
        ledger = UsageLedger(path, clock=Clock(MIDNIGHT - 60))
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(ledger.run, stop)
            assert ledger.today()["requests"] == run
            ledger.submit_nowait(exchange(request_id=f"r{run}"))
            await _wait_recorded(ledger, 1)
            stop.set()
    assert _read(path, "2026-11-21")[0] == 2


async def test_a_flood_is_all_accounted_and_only_a_stopped_ledger_drops(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    ledger = UsageLedger(path, clock=Clock(MIDNIGHT - 60))
    for i in range(20_000):  # no queue to fill: each request is added to the pending totals
        assert ledger.submit_nowait(exchange(request_id=f"r{i}"))
    stats = ledger.statistics()
    assert (stats.queued, stats.dropped) == (20_000, 0)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, stop)
        await _wait_recorded(ledger, 20_000)
        stop.set()
    assert ledger.statistics().recorded == 20_000
    assert _read(path, "2026-11-21")[0] == 20_000
    assert not ledger.submit_nowait(exchange(request_id="late"))  # stopped: a counted drop
    assert ledger.statistics().dropped == 1
    assert ledger.today()["dropped"] == 1


def _wal_frames(path: Path) -> int:
    """Frames in the database's write-ahead log: every commit appends at least one."""
    wal = path.with_name(path.name + "-wal")
    with sqlite3.connect(path) as conn:
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    return max(0, wal.stat().st_size - 32) // (page + 24) if wal.exists() else 0


async def test_one_transaction_per_window_however_many_requests(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    ledger = UsageLedger(path, clock=Clock(MIDNIGHT - 60))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, stop)
        before = _wal_frames(path)
        for i in range(300):  # about 0.3 s of a steady trickle
            ledger.submit_nowait(exchange(request_id=f"r{i}", started_at=MIDNIGHT - 60))
            await trio.sleep(0.001)
        await _wait_recorded(ledger, 300)
        frames = _wal_frames(path) - before
        stop.set()
    assert ledger.statistics().recorded == 300
    assert 1 <= frames <= 30  # a few commits (one per 100 ms window), not 300


async def test_stop_drains_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    ledger = UsageLedger(path, clock=Clock(MIDNIGHT - 60))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(ledger.run, stop)
        for i in range(600):
            ledger.submit_nowait(exchange(request_id=f"r{i}"))
        stop.set()  # set before the writer got to run: the queue is still drained
    assert ledger.statistics().recorded == 600
    assert _read(path, "2026-11-21")[0] == 600


async def test_a_broken_exchange_never_reaches_the_gateway(tmp_path: Path) -> None:
    ledger = UsageLedger(tmp_path / "cal.db")
    bad = exchange()
    bad.usage = None  # type: ignore[assignment]
    assert not ledger.submit_nowait(bad)
    stats = ledger.statistics()
    assert stats.failed == 1
    assert stats.last_error is not None and "req_1" in stats.last_error


async def test_an_exchange_struct_is_what_the_gateway_hands_over(tmp_path: Path) -> None:
    # the sink accepts the gateway's Exchange type as is (an ExchangeSink)
    from cal.service import ExchangeSink

    sink: ExchangeSink = UsageLedger(tmp_path / "cal.db")
    assert isinstance(exchange(), Exchange)
    assert sink.submit_nowait(exchange())


async def test_today_counts_what_is_not_written_yet(tmp_path: Path) -> None:
    ledger = UsageLedger(tmp_path / "cal.db", clock=Clock(MIDNIGHT - 60))
    ledger.submit_nowait(exchange(request_id="a"))
    ledger.submit_nowait(exchange(request_id="b", started_at=MIDNIGHT - 86_400 * 2))
    today = ledger.today()  # nothing written yet: the service is not even running
    assert (today["day"], today["requests"], today["input_tokens"]) == ("2026-11-21", 1, 1_000)
    assert ledger.statistics().queued == 2
