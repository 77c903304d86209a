"""The usage ledger's table and queries, and what an exchange adds to it."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_samples import NOON, exchange

from cal.capture.model import Attempt, ErrorInfo, StreamEvent, Usage
from cal.store.db import Database
from cal.store.ledger import (
    LedgerKey,
    Totals,
    add_totals,
    aggregate,
    billed_model,
    daily_totals,
    day_totals,
    exchange_cost,
    grouped_totals,
    ledger_entry,
    utc_day,
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "ledger.db")
    yield database
    database.close()


def test_migration_creates_the_ledger(db: Database) -> None:
    with db.read() as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(usage_ledger)")]
    assert columns[:4] == ["day", "endpoint", "model", "source_tag"]
    assert "cost_nano_usd" in columns


def test_an_exchange_with_upstream_usage_is_priced() -> None:
    entry = ledger_entry(exchange(source_tag="claude"))
    assert entry.key == LedgerKey("2026-11-21", "anthropic-main", "claude-sonnet-4-5", "claude")
    t = entry.totals
    assert (t.requests, t.errors, t.estimated, t.unpriced) == (1, 0, 0, 0)
    assert (t.input_tokens, t.output_tokens, t.reasoning_tokens) == (1_000, 500, 100)
    assert (t.cache_read_tokens, t.cache_write_tokens) == (20_000, 4_000)
    # $0.0315 (tests/usage/test_usage_cost.py works it out) in nano-dollars
    assert t.cost_nano_usd == 31_500_000
    assert t.cost_usd == pytest.approx(0.0315)


def test_the_billed_model_is_what_the_provider_answered_or_what_cal_sent() -> None:
    mapped = exchange(
        model="big",
        attempts=[Attempt(0, "ep", "anthropic", "u", model="claude-haiku-4-5")],
    )
    assert billed_model(mapped) == "claude-haiku-4-5"
    assert ledger_entry(mapped).key.model == "claude-haiku-4-5"
    answered = exchange(model="big", response_model="claude-haiku-4-5-20251001")
    assert billed_model(answered) == "claude-haiku-4-5-20251001"
    # haiku: 1,000 x 1 + 500 x 5 + 20,000 x 0.1 + 4,000 x 1.25 = 10,500 micro-dollars
    assert exchange_cost(answered) == pytest.approx(0.0105)


def test_a_gateway_cost_wins() -> None:
    assert exchange_cost(exchange(cost_usd=1.5)) == 1.5


def test_unknown_model_is_unpriced_not_free() -> None:
    entry = ledger_entry(exchange(model="gpt-6.1-sol"))
    assert entry.totals.unpriced == 1
    assert entry.totals.cost_nano_usd == 0
    assert entry.totals.input_tokens == 1_000
    assert exchange_cost(exchange(model="gpt-6.1-sol")) is None


def test_estimated_usage_counts_as_a_request_not_as_tokens() -> None:
    entry = ledger_entry(
        exchange(
            path="/v1/messages/count_tokens",
            usage=Usage(input_tokens=4_000, source="estimated"),
        )
    )
    assert (entry.totals.requests, entry.totals.estimated) == (1, 1)
    assert entry.totals.input_tokens == 0
    assert entry.totals.unpriced == 0
    assert exchange_cost(exchange(usage=Usage(input_tokens=5, source="estimated"))) is None


def test_errors_are_counted() -> None:
    assert ledger_entry(exchange(status=529, usage=Usage())).totals.errors == 1
    broken = exchange(status=200, error=ErrorInfo("stream_cut", "cut"))
    assert ledger_entry(broken).totals.errors == 1
    assert ledger_entry(exchange()).totals.errors == 0


def test_missing_keys_group_as_empty() -> None:
    entry = ledger_entry(exchange(endpoint=None, model=None, usage=Usage()))
    assert entry.key == LedgerKey("2026-11-21")


def test_utc_day_boundaries() -> None:
    midnight = calendar.timegm((2026, 11, 22, 0, 0, 0))
    assert utc_day(midnight - 0.001) == "2026-11-21"
    assert utc_day(midnight) == "2026-11-22"


def test_totals_add_up_and_upsert(db: Database) -> None:
    entries = [ledger_entry(exchange(request_id=f"r{i}")) for i in range(3)]
    entries.append(ledger_entry(exchange(endpoint="other", status=500, usage=Usage())))
    totals = aggregate(entries)
    assert len(totals) == 2
    with db.write() as conn:
        add_totals(conn, totals)
        add_totals(conn, totals)  # a second batch adds to the same rows
    with db.read() as conn:
        day = day_totals(conn, "2026-11-21")
        assert (day.requests, day.errors) == (8, 2)
        assert day.input_tokens == 6 * 1_000
        assert day.cost_nano_usd == 6 * 31_500_000
        assert day_totals(conn, "2026-11-20") == Totals()
        by_endpoint = grouped_totals(conn, ("endpoint",))
    assert [k["endpoint"] for k, _ in by_endpoint] == ["anthropic-main", "other"]
    assert by_endpoint[1][1].requests == 2


def test_daily_and_grouped_queries(db: Database) -> None:
    day = 86_400
    entries = [
        ledger_entry(exchange(started_at=NOON - day)),
        ledger_entry(exchange(started_at=NOON, model="gpt-5", endpoint="openai")),
        ledger_entry(exchange(started_at=NOON, source_tag="codex")),
        ledger_entry(exchange(started_at=NOON + day)),
    ]
    with db.write() as conn:
        add_totals(conn, aggregate(entries))
    with db.read() as conn:
        days = daily_totals(conn)
        assert [d for d, _ in days] == ["2026-11-20", "2026-11-21", "2026-11-22"]
        assert [t.requests for _, t in days] == [1, 2, 1]
        window = daily_totals(conn, "2026-11-21", "2026-11-21")
        assert [d for d, _ in window] == ["2026-11-21"]
        rows = grouped_totals(
            conn, ("endpoint", "model"), first_day="2026-11-21", last_day="2026-11-22"
        )
        keys = [(k["endpoint"], k["model"], t.requests) for k, t in rows]
        assert keys == [("anthropic-main", "claude-sonnet-4-5", 2), ("openai", "gpt-5", 1)]
        tags = grouped_totals(conn, ("source_tag",))
        assert [(k["source_tag"], t.requests) for k, t in tags] == [("", 3), ("codex", 1)]
        with pytest.raises(ValueError, match="group by"):
            grouped_totals(conn, ("model; DROP TABLE usage_ledger",))  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            grouped_totals(conn, ())


def test_to_dict_gives_dollars() -> None:
    totals = Totals(requests=2, cost_nano_usd=1_234_567_891)
    out = totals.to_dict()
    assert out["cost_usd"] == pytest.approx(1.234567891)
    assert out["requests"] == 2


def test_the_request_index_row_carries_the_cost() -> None:
    from cal.capture.rows import request_row

    row = request_row(exchange(), [], bundle_path=None, bundle_bytes=0, secrets=False)
    assert row.cost_usd == pytest.approx(0.0315)
    unknown = exchange(model="gpt-6.1-sol")
    assert (
        request_row(unknown, [], bundle_path=None, bundle_bytes=0, secrets=False).cost_usd is None
    )


def test_anthropic_one_hour_writes_are_priced_at_the_one_hour_rate() -> None:
    body = (
        b'{"type":"message","model":"claude-sonnet-4-5-20250929","usage":{"input_tokens":1000,'
        b'"cache_creation_input_tokens":4000,"cache_read_input_tokens":20000,"cache_creation":'
        b'{"ephemeral_5m_input_tokens":3000,"ephemeral_1h_input_tokens":1000},"output_tokens":500}}'
    )
    # tests/usage/test_usage_cost.py: 3,000 5-minute + 1,000 1-hour writes make $0.03375
    anthropic = exchange(upstream_format="anthropic", response_body=body)
    assert exchange_cost(anthropic) == pytest.approx(0.03375)
    events = exchange(
        upstream_format="anthropic",
        raw_events=[StreamEvent(1.0, b"event: message_start\ndata: " + body + b"\n\n")],
    )
    assert exchange_cost(events) == pytest.approx(0.03375)
    # another upstream format never reads the Anthropic split
    assert exchange_cost(exchange(upstream_format="openai-chat", response_body=body)) == (
        pytest.approx(0.0315)
    )
