"""The request index: migration 2, insert, filters, pagination, text search, deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cal.store.db import Database, user_version
from cal.store.requests import (
    RequestFilter,
    RequestRow,
    count_requests,
    delete_requests,
    facets,
    get_request,
    insert_request,
    list_requests,
    requests_for,
    requests_for_trace,
)


def _row(n: int, **overrides: Any) -> RequestRow:
    fields: dict[str, Any] = {
        "request_id": f"req-{n:03d}",
        "trace_id": f"trace-{n % 3}",
        "span_id": f"span-{n}",
        "run_id": "run-a" if n < 6 else "run-b",
        "obs_ref": f"trace-{n % 3}/req-{n:03d}",
        "started_at": 1000.0 + n,
        "method": "POST",
        "path": "/v1/messages",
        "client_format": "anthropic",
        "client_name": "Claude Code" if n % 2 else "Codex",
        "session_id": f"sess-{n % 2}",
        "model": "claude-opus-5-5" if n % 2 else "gpt-6.1",
        "endpoint": "main",
        "status": 200,
        "bundle_path": f"runs/x/traces/t/req-{n:03d}",
    }
    fields.update(overrides)
    return RequestRow(**fields)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database.open(tmp_path / "index.db")
    with database.write() as conn:
        for n in range(10):
            extra: dict[str, Any] = {}
            if n == 4:
                extra = {"status": 529, "error_kind": "upstream_status"}
            if n == 7:
                extra = {"status": 200, "error_kind": "stream_cut", "source_tag": "claude"}
            insert_request(conn, _row(n, **extra), f"user: question number {n} 100%_done")
    yield database
    database.close()


def _ids(rows: list[RequestRow]) -> list[str]:
    return [r.request_id for r in rows]


def test_migration_2_creates_the_index(db: Database) -> None:
    with db.read() as conn:
        assert user_version(conn) >= 2
        assert count_requests(conn) == 10


def test_rows_round_trip(db: Database) -> None:
    with db.read() as conn:
        row = get_request(conn, "req-007")
        assert get_request(conn, "nope") is None
    assert row == _row(7, error_kind="stream_cut", source_tag="claude")


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (RequestFilter(run_id="run-b"), ["req-009", "req-008", "req-007", "req-006"]),
        (RequestFilter(session_id="sess-1", run_id="run-a"), ["req-005", "req-003", "req-001"]),
        (RequestFilter(client_name="Codex", since=1006.0), ["req-008", "req-006"]),
        (RequestFilter(model="gpt-6.1", until=1003.0), ["req-002", "req-000"]),
        (RequestFilter(status=529), ["req-004"]),
        (RequestFilter(errors_only=True), ["req-007", "req-004"]),
        (RequestFilter(source_tag="claude"), ["req-007"]),
        (
            RequestFilter(trace_id="trace-0", endpoint="main"),
            ["req-009", "req-006", "req-003", "req-000"],
        ),
        (RequestFilter(text="number 5"), ["req-005"]),
        (RequestFilter(text="req-00"), [f"req-00{n}" for n in range(9, -1, -1)]),
        (RequestFilter(text="100%_d"), [f"req-00{n}" for n in range(9, -1, -1)]),
        (RequestFilter(text="0%x"), []),
    ],
)
def test_filters(db: Database, flt: RequestFilter, expected: list[str]) -> None:
    with db.read() as conn:
        rows, total = list_requests(conn, flt)
    assert _ids(rows) == expected and total == len(expected)


def test_pagination_newest_first(db: Database) -> None:
    with db.read() as conn:
        first, total = list_requests(conn, RequestFilter(), limit=4)
        second, _ = list_requests(conn, RequestFilter(), limit=4, offset=4)
        last, _ = list_requests(conn, RequestFilter(), limit=4, offset=8)
    assert total == 10
    assert _ids(first + second + last) == [f"req-{n:03d}" for n in range(9, -1, -1)]


def test_trace_and_export_selections(db: Database) -> None:
    with db.read() as conn:
        assert _ids(requests_for_trace(conn, "trace-1")) == ["req-001", "req-004", "req-007"]
        assert _ids(requests_for(conn, session_id="sess-0", run_id="run-b")) == [
            "req-006",
            "req-008",
        ]
        assert _ids(requests_for(conn, request_id="req-002")) == ["req-002"]
        assert requests_for(conn) == []


def test_delete_removes_rows_and_their_search_text(db: Database) -> None:
    with db.write() as conn:
        delete_requests(conn, ["req-005", "req-006"])
    with db.read() as conn:
        assert count_requests(conn) == 8
        assert list_requests(conn, RequestFilter(text="number 5"))[1] == 0
        left = conn.execute("SELECT COUNT(*) FROM request_prompts").fetchone()[0]
    assert left == 8


def test_facets_list_distinct_values_newest_first(db: Database) -> None:
    with db.read() as conn:
        found = facets(conn)
    assert found["run_id"] == ["run-b", "run-a"]
    assert found["client_name"] == ["Claude Code", "Codex"]
    assert found["source_tag"] == ["claude"]
    assert sorted(found["status"]) == [200, 529]
