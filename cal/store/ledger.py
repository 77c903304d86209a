"""The usage ledger: request, token and cost totals per UTC day, endpoint, model and source tag.

One row per (day, endpoint, model, source_tag), added to by the ledger service (upserts, one
transaction per batch). Missing keys are stored as '' so that they group. Cost is kept in whole
nano-dollars so that sums are exact; `Totals.cost_usd` converts. Tokens are added only from usage
the upstream reported: a locally estimated count (`count_tokens` answered by cal) counts as a
request and in `estimated`, not as tokens, and a request whose model has no price counts in
`unpriced` (its cost is unknown, not zero).

Functions take an open sqlite3 connection inside a `Database.read()`/`write()` transaction; the
table is created by migration 3 (`LEDGER_V3`, listed in `cal/store/schema.py`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from cal.capture.model import Exchange
from cal.usage.cache_ttl import one_hour_cache_writes
from cal.usage.cost import price_usage
from cal.usage.prices import PriceTable

NANO = 1_000_000_000
"""Nano-dollars per dollar."""

LEDGER_V3 = """
CREATE TABLE usage_ledger (
    day TEXT NOT NULL,
    endpoint TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    source_tag TEXT NOT NULL DEFAULT '',
    requests INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    estimated INTEGER NOT NULL DEFAULT 0,
    unpriced INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    cost_nano_usd INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, endpoint, model, source_tag)
) WITHOUT ROWID;
"""

GroupColumn = Literal["day", "endpoint", "model", "source_tag"]
GROUP_COLUMNS: tuple[GroupColumn, ...] = ("day", "endpoint", "model", "source_tag")


class Totals(msgspec.Struct):
    """Counts added up over some requests."""

    requests: int = 0
    errors: int = 0
    estimated: int = 0
    """Requests whose usage was a local estimate (not counted in the token totals)."""
    unpriced: int = 0
    """Requests with upstream usage but no known price (not counted in the cost)."""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nano_usd: int = 0

    @property
    def cost_usd(self) -> float:
        """The priced cost in US dollars."""
        return self.cost_nano_usd / NANO

    def add(self, other: Totals) -> None:
        """Add `other`'s counts to these."""
        for field in COUNT_FIELDS:
            setattr(self, field, getattr(self, field) + getattr(other, field))

    def to_dict(self) -> dict[str, int | float]:
        """Plain numbers for JSON (the cost in dollars as `cost_usd`)."""
        out: dict[str, int | float] = {f: getattr(self, f) for f in COUNT_FIELDS}
        out["cost_usd"] = round(self.cost_usd, 9)
        return out


COUNT_FIELDS: tuple[str, ...] = tuple(Totals.__struct_fields__)


class LedgerKey(msgspec.Struct, frozen=True, array_like=True):
    """What the ledger groups by."""

    day: str
    endpoint: str = ""
    model: str = ""
    source_tag: str = ""


class LedgerEntry(msgspec.Struct, frozen=True):
    """One finished request, reduced to what the ledger adds up."""

    key: LedgerKey
    totals: Totals


def utc_day(unix_seconds: float) -> str:
    """The UTC calendar day (`YYYY-MM-DD`) of a Unix time."""
    return time.strftime("%Y-%m-%d", time.gmtime(unix_seconds))


def billed_model(exchange: Exchange) -> str | None:
    """The model the provider billed: what it says answered, else what cal sent, else asked."""
    if exchange.response_model:
        return exchange.response_model
    sent = next((a.model for a in reversed(exchange.attempts) if a.model), None)
    return sent or exchange.model


def exchange_cost(exchange: Exchange, table: PriceTable | None = None) -> float | None:
    """The cost of an exchange in USD: set by the gateway, else priced from its upstream usage
    (an Anthropic upstream's 1-hour cache writes at the 1-hour price).

    None when the usage is not the upstream's (an estimate, or none) or the model is unknown.
    """
    if exchange.cost_usd is not None:
        return exchange.cost_usd
    if exchange.usage.source != "upstream":
        return None
    breakdown = price_usage(
        billed_model(exchange),
        exchange.usage,
        cache_write_1h_tokens=_one_hour_writes(exchange),
        table=table,
    )
    return None if breakdown is None else breakdown.total


def _one_hour_writes(exchange: Exchange) -> int:
    """The part of an Anthropic upstream's cache writes made with the 1-hour lifetime."""
    if exchange.upstream_format != "anthropic" or not exchange.usage.cache_write_tokens:
        return 0
    if exchange.raw_events:
        return one_hour_cache_writes(e.data for e in exchange.raw_events)
    return one_hour_cache_writes([exchange.response_body or b""])


def ledger_entry(exchange: Exchange, table: PriceTable | None = None) -> LedgerEntry:
    """What `exchange` adds to the ledger."""
    usage = exchange.usage
    sent = next((a.model for a in reversed(exchange.attempts) if a.model), None)
    key = LedgerKey(
        day=utc_day(exchange.started_at),
        endpoint=exchange.endpoint or "",
        model=sent or exchange.model or "",
        source_tag=exchange.source_tag or "",
    )
    failed = exchange.error is not None or (exchange.status is not None and exchange.status >= 400)
    totals = Totals(requests=1, errors=int(failed))
    if usage.source == "estimated":
        totals.estimated = 1
    elif usage.source == "upstream":
        totals.input_tokens = usage.input_tokens
        totals.output_tokens = usage.output_tokens
        totals.cache_read_tokens = usage.cache_read_tokens
        totals.cache_write_tokens = usage.cache_write_tokens
        totals.reasoning_tokens = usage.reasoning_tokens
        cost = exchange_cost(exchange, table)
        if cost is None:
            totals.unpriced = 1
        else:
            totals.cost_nano_usd = round(cost * NANO)
    return LedgerEntry(key, totals)


def aggregate(entries: Iterable[LedgerEntry]) -> dict[LedgerKey, Totals]:
    """Entries added up per key (one upsert per key instead of one per request)."""
    out: dict[LedgerKey, Totals] = {}
    for entry in entries:
        totals = out.setdefault(entry.key, Totals())
        totals.add(entry.totals)
    return out


_KEY_COLUMNS = ("day", "endpoint", "model", "source_tag")
_UPSERT = (
    f"INSERT INTO usage_ledger ({', '.join(_KEY_COLUMNS + COUNT_FIELDS)}) "
    f"VALUES ({', '.join('?' for _ in _KEY_COLUMNS + COUNT_FIELDS)}) "
    f"ON CONFLICT ({', '.join(_KEY_COLUMNS)}) DO UPDATE SET "
    + ", ".join(f"{f} = {f} + excluded.{f}" for f in COUNT_FIELDS)
)


def add_totals(conn: sqlite3.Connection, totals: dict[LedgerKey, Totals]) -> None:
    """Add each key's totals to its ledger row (created at zero when new)."""
    conn.executemany(
        _UPSERT,
        [
            (k.day, k.endpoint, k.model, k.source_tag, *(getattr(t, f) for f in COUNT_FIELDS))
            for k, t in totals.items()
        ],
    )


_SUMS = ", ".join(f"COALESCE(SUM({f}), 0)" for f in COUNT_FIELDS)


def _totals(row: Sequence[int]) -> Totals:
    return Totals(**{f: int(v) for f, v in zip(COUNT_FIELDS, row, strict=True)})


def day_totals(conn: sqlite3.Connection, day: str) -> Totals:
    """Everything recorded on `day` (`YYYY-MM-DD`, UTC)."""
    row = conn.execute(f"SELECT {_SUMS} FROM usage_ledger WHERE day = ?", (day,)).fetchone()
    return _totals(row)


def grouped_totals(
    conn: sqlite3.Connection,
    by: Sequence[GroupColumn],
    *,
    first_day: str | None = None,
    last_day: str | None = None,
) -> list[tuple[dict[str, str], Totals]]:
    """Totals grouped by the columns `by` (e.g. `("day",)` or `("endpoint", "model")`), over the
    days from `first_day` to `last_day` inclusive (either open), ordered by the group columns."""
    columns: list[str] = [c for c in by if c in GROUP_COLUMNS]
    if len(columns) != len(by) or not columns:
        raise ValueError(f"group by one or more of {', '.join(GROUP_COLUMNS)}, not {list(by)}")
    clauses: list[str] = []
    params: list[str] = []
    if first_day is not None:
        clauses.append("day >= ?")
        params.append(first_day)
    if last_day is not None:
        clauses.append("day <= ?")
        params.append(last_day)
    where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    group = ", ".join(columns)
    sql = f"SELECT {group}, {_SUMS} FROM usage_ledger{where} GROUP BY {group} ORDER BY {group}"
    out: list[tuple[dict[str, str], Totals]] = []
    for row in conn.execute(sql, params):
        key = dict(zip(columns, (str(v) for v in row[: len(columns)]), strict=True))
        out.append((key, _totals(row[len(columns) :])))
    return out


def daily_totals(
    conn: sqlite3.Connection, first_day: str | None = None, last_day: str | None = None
) -> list[tuple[str, Totals]]:
    """One Totals per day that has any, oldest first."""
    rows = grouped_totals(conn, ("day",), first_day=first_day, last_day=last_day)
    return [(key["day"], totals) for key, totals in rows]


def report(
    conn: sqlite3.Connection, by: Sequence[GroupColumn], *, days: int, now: float
) -> list[dict[str, str | int | float]]:
    """Totals of the last `days` UTC days up to `now` (today included), grouped by `by`, as plain
    rows: the group columns, then the counts and `cost_usd`."""
    first = utc_day(now - (max(1, days) - 1) * 86_400)
    rows = grouped_totals(conn, by, first_day=first, last_day=utc_day(now))
    return [{**key, **totals.to_dict()} for key, totals in rows]
