"""Retention by age, run count and total bytes: bundle and index row go together."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from capture_samples import write_all

from cal.capture.model import Exchange
from cal.capture.retention import RetentionLimits, prune
from cal.capture.writer import CaptureWriter
from cal.config import Settings
from cal.store.db import Database
from cal.store.requests import RequestFilter, list_requests

NOW = 1_800_000_000.0
DAY = 86400.0


async def _write(settings: Settings, exchanges: list[Exchange]) -> None:
    writer = CaptureWriter(settings)
    await write_all(writer, exchanges)
    assert writer.statistics().written == len(exchanges)


def _state(settings: Settings) -> tuple[list[str], list[str]]:
    """(request ids in the index, request ids with a bundle on disk), both sorted."""
    db = Database.open(settings.db_path)
    with db.read() as conn:
        rows, _ = list_requests(conn, RequestFilter(), limit=500)
    db.close()
    on_disk = [p.parent.name for p in settings.dump_dir.glob("runs/*/traces/*/*/prompt.index.json")]
    return sorted(r.request_id for r in rows), sorted(on_disk)


def _runs(settings: Settings) -> list[Path]:
    return list((settings.dump_dir / "runs").iterdir())


def _prune(settings: Settings, limits: RetentionLimits, current: str | None = None) -> int:
    db = Database.open(settings.db_path)
    try:
        return prune(db, settings.dump_dir, limits, now=NOW, current_run=current).requests
    finally:
        db.close()


async def test_age_limit_removes_old_bundles_and_rows(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(retention_max_age_days=0)
    ages = {"old-1": 20, "old-2": 15, "new-1": 1}
    await _write(
        settings,
        [make_exchange(request_id=k, started_at=NOW - d * DAY) for k, d in ages.items()],
    )
    assert _prune(settings, RetentionLimits(14, 0, 0)) == 2
    assert _state(settings) == (["new-1"], ["new-1"])


async def test_run_limit_removes_whole_oldest_runs_but_never_the_current(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(retention_max_age_days=0)
    exchanges = [
        make_exchange(request_id=f"{run}-{i}", run_id=run, started_at=NOW - 100 + n * 10 + i)
        for n, run in enumerate(["run_a", "run_b", "run_c"])
        for i in range(2)
    ]
    await _write(settings, exchanges)
    assert _prune(settings, RetentionLimits(0, 0, 2), current="run_a") == 2
    ids, on_disk = _state(settings)
    assert ids == on_disk == ["run_a-0", "run_a-1", "run_c-0", "run_c-1"]
    assert not (settings.dump_dir / "runs" / "run_b").exists()


async def test_byte_limit_removes_oldest_first_until_under(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(retention_max_age_days=0)
    await _write(
        settings, [make_exchange(request_id=f"r{i}", started_at=NOW - 10 + i) for i in range(5)]
    )
    one = sum(
        f.stat().st_size for f in next(settings.dump_dir.glob("runs/*/traces/*/r0")).iterdir()
    )
    assert _prune(settings, RetentionLimits(0, one * 3, 0)) == 2
    assert _state(settings) == (["r2", "r3", "r4"], ["r2", "r3", "r4"])
    assert _prune(settings, RetentionLimits(0, one * 3, 0)) == 0


async def test_the_writer_applies_retention_on_start(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(retention_max_age_days=0)
    await _write(settings, [make_exchange(request_id="ancient", started_at=1000.0)])
    aged = make_settings(retention_max_age_days=1)
    await _write(aged, [])
    assert _state(aged) == ([], [])
    assert _runs(aged) == []
