"""Retention: prune bundles by age, total bytes and run count (blocking; runs in the writer).

The victims are chosen from the request index, never by walking the dump tree. Their index rows
are deleted first (in one transaction), then their directories: a crash in between leaves an
unlisted directory, never a listed request without its bundle. A run with no rows left loses its
whole directory, requests.jsonl included. The current run is never pruned by run count.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from cal.capture import disk
from cal.config import Settings
from cal.store.db import Database
from cal.store.requests import (
    Victim,
    delete_requests,
    older_than,
    oldest_rows,
    rows_of_run,
    runs_oldest_first,
    total_bundle_bytes,
)

_DAY_S = 86400.0
_CHUNK = 500


class RetentionLimits(msgspec.Struct, frozen=True):
    """The three limits; 0 (or less) switches a limit off."""

    max_age_days: float
    max_bytes: int
    max_runs: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionLimits:
        return cls(
            settings.retention_max_age_days,
            settings.retention_max_bytes,
            settings.retention_max_runs,
        )


class PruneResult(msgspec.Struct, frozen=True):
    """What one pass removed."""

    requests: int = 0
    runs: int = 0
    bytes: int = 0


def choose_victims(
    db: Database, limits: RetentionLimits, *, now: float, current_run: str | None
) -> tuple[dict[str, Victim], list[str]]:
    """(rows to delete by request id, runs to delete whole) under `limits`."""
    victims: dict[str, Victim] = {}
    doomed_runs: list[str] = []
    with db.read() as conn:
        if limits.max_age_days > 0:
            for victim in older_than(conn, now - limits.max_age_days * _DAY_S):
                victims[victim[0]] = victim
        if limits.max_runs > 0:
            runs = [r for r in runs_oldest_first(conn) if r != current_run]
            keep = limits.max_runs - (1 if current_run is not None else 0)
            doomed_runs = runs[: max(0, len(runs) - max(keep, 0))]
            for run in doomed_runs:
                victims.update((v[0], v) for v in rows_of_run(conn, run))
        if limits.max_bytes > 0:
            _add_oldest_over_bytes(conn, limits.max_bytes, victims)
    return victims, doomed_runs


def _add_oldest_over_bytes(
    conn: sqlite3.Connection, max_bytes: int, victims: dict[str, Victim]
) -> None:
    excess = total_bundle_bytes(conn) - sum(v[3] for v in victims.values()) - max_bytes
    seen = 0
    while excess > 0:
        batch = oldest_rows(conn, seen + _CHUNK)[seen:]
        if not batch:
            return
        seen += len(batch)
        for victim in batch:
            if victim[0] in victims:
                continue
            victims[victim[0]] = victim
            excess -= victim[3]
            if excess <= 0:
                return


def prune(
    db: Database,
    dump_dir: Path,
    limits: RetentionLimits,
    *,
    now: float,
    current_run: str | None = None,
) -> PruneResult:
    """Apply `limits`: delete the chosen rows, then their bundles (and emptied runs)."""
    victims, doomed_runs = choose_victims(db, limits, now=now, current_run=current_run)
    if not victims and not doomed_runs:
        return PruneResult()
    ids = list(victims)
    for start in range(0, len(ids), _CHUNK):
        with db.write() as conn:
            delete_requests(conn, ids[start : start + _CHUNK])
    touched = {v[1] for v in victims.values()} | set(doomed_runs)
    with db.read() as conn:
        emptied = [run for run in touched if not rows_of_run(conn, run)]
    for run in emptied:
        disk.remove_run(dump_dir, run)
    for _, run, path, _size in victims.values():
        if path and run not in emptied:
            disk.remove_bundle(dump_dir, path)
    freed = sum(v[3] for v in victims.values())
    return PruneResult(requests=len(victims), runs=len(emptied), bytes=freed)
