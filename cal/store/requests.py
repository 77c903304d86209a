"""The request index: one row per exchange, written by the capture writer, read by the portal.

Functions take an open sqlite3 connection inside a `Database.read()`/`write()` transaction. The
table is created by migration 2 (`REQUESTS_V2`, listed in `cal/store/schema.py`). Prompt text for
search lives in `request_prompts` (capped per request) and goes with its row (ON DELETE CASCADE).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

PROMPT_SEARCH_CAP = 8 * 1024
"""Characters of prompt text kept per request for search (the latest user prompt first)."""
MAX_PAGE = 500

REQUESTS_V2 = """
CREATE TABLE requests (
    request_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    obs_ref TEXT NOT NULL,
    started_at REAL NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    source_tag TEXT,
    client_name TEXT,
    session_id TEXT,
    client_format TEXT NOT NULL,
    upstream_format TEXT,
    endpoint TEXT,
    model TEXT,
    route TEXT,
    status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    stream INTEGER NOT NULL DEFAULT 0,
    ttfb_ms REAL,
    duration_ms REAL,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    usage_source TEXT NOT NULL DEFAULT 'none',
    cost_usd REAL,
    error_kind TEXT,
    error_message TEXT,
    prompt_roles TEXT NOT NULL DEFAULT '',
    prompt_count INTEGER NOT NULL DEFAULT 0,
    bundle_path TEXT,
    bundle_bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX requests_started ON requests (started_at);
CREATE INDEX requests_trace ON requests (trace_id);
CREATE INDEX requests_run ON requests (run_id, started_at);
CREATE INDEX requests_session ON requests (session_id, started_at);
CREATE TABLE request_prompts (
    request_id TEXT PRIMARY KEY REFERENCES requests (request_id) ON DELETE CASCADE,
    text TEXT NOT NULL
);
"""


class RequestRow(msgspec.Struct, kw_only=True):
    """One row of the request index (times: `started_at` Unix seconds, durations in ms)."""

    request_id: str
    trace_id: str
    span_id: str
    run_id: str
    obs_ref: str
    started_at: float
    method: str
    path: str
    client_format: str
    source_tag: str | None = None
    client_name: str | None = None
    session_id: str | None = None
    upstream_format: str | None = None
    endpoint: str | None = None
    model: str | None = None
    route: str | None = None
    status: int | None = None
    attempts: int = 0
    stream: bool = False
    ttfb_ms: float | None = None
    duration_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    usage_source: str = "none"
    cost_usd: float | None = None
    error_kind: str | None = None
    error_message: str | None = None
    prompt_roles: str = ""
    """Comma-separated roles present, in first-seen order (`system,user,assistant`)."""
    prompt_count: int = 0
    bundle_path: str | None = None
    """The bundle directory relative to the dump dir, `/`-separated; None when not dumped."""
    bundle_bytes: int = 0


class RequestFilter(msgspec.Struct, kw_only=True, frozen=True):
    """What the portal's list narrows by; every field is optional."""

    since: float | None = None
    until: float | None = None
    run_id: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    source_tag: str | None = None
    client_name: str | None = None
    model: str | None = None
    endpoint: str | None = None
    status: int | None = None
    errors_only: bool = False
    text: str | None = None
    """Substring searched in prompt text, request id, trace id and model."""
    role: str | None = None
    """Only requests with a prompt of this role."""
    with_prompts: bool = False
    """Only requests with at least one extracted prompt."""


COLUMNS: tuple[str, ...] = tuple(RequestRow.__struct_fields__)
_INSERT = (
    f"INSERT OR REPLACE INTO requests ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)
_SELECT = f"SELECT {', '.join('r.' + c for c in COLUMNS)} FROM requests r"


def insert_request(conn: sqlite3.Connection, row: RequestRow, prompt_text: str = "") -> None:
    """Add (or replace) the row of one request and its searchable prompt text."""
    values = [getattr(row, c) for c in COLUMNS]
    conn.execute("DELETE FROM request_prompts WHERE request_id = ?", (row.request_id,))
    conn.execute(_INSERT, values)
    if prompt_text:
        conn.execute(
            "INSERT INTO request_prompts (request_id, text) VALUES (?, ?)",
            (row.request_id, prompt_text[:PROMPT_SEARCH_CAP]),
        )


def insert_requests(conn: sqlite3.Connection, rows: list[tuple[RequestRow, str]]) -> None:
    """`insert_request` for many (row, prompt text) pairs, a statement each for all of them; of
    rows with the same request id, the last wins."""
    rows = list({row.request_id: (row, text) for row, text in rows}.values())
    ids = [(row.request_id,) for row, _ in rows]
    conn.executemany("DELETE FROM request_prompts WHERE request_id = ?", ids)
    conn.executemany(_INSERT, [[getattr(row, c) for c in COLUMNS] for row, _ in rows])
    conn.executemany(
        "INSERT INTO request_prompts (request_id, text) VALUES (?, ?)",
        [(row.request_id, text[:PROMPT_SEARCH_CAP]) for row, text in rows if text],
    )


def _row(values: tuple[Any, ...]) -> RequestRow:
    data = dict(zip(COLUMNS, values, strict=True))
    data["stream"] = bool(data["stream"])
    return RequestRow(**data)


def get_request(conn: sqlite3.Connection, request_id: str) -> RequestRow | None:
    """The row of `request_id`, or None."""
    found = conn.execute(_SELECT + " WHERE r.request_id = ?", (request_id,)).fetchone()
    return _row(found) if found else None


def requests_for_trace(conn: sqlite3.Connection, trace_id: str) -> list[RequestRow]:
    """Every request of a trace, oldest first."""
    rows = conn.execute(
        _SELECT + " WHERE r.trace_id = ? ORDER BY r.started_at, r.request_id", (trace_id,)
    )
    return [_row(r) for r in rows]


def requests_for(
    conn: sqlite3.Connection,
    *,
    request_id: str | None = None,
    session_id: str | None = None,
    run_id: str | None = None,
) -> list[RequestRow]:
    """Every request matching one id (an export's selection), oldest first."""
    clauses, params = [], []
    for column, value in (
        ("request_id", request_id),
        ("session_id", session_id),
        ("run_id", run_id),
    ):
        if value is not None:
            clauses.append(f"r.{column} = ?")
            params.append(value)
    if not clauses:
        return []
    sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY r.started_at, r.request_id"
    return [_row(r) for r in conn.execute(sql, params)]


def _where(flt: RequestFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    equal = (
        ("run_id", flt.run_id),
        ("session_id", flt.session_id),
        ("trace_id", flt.trace_id),
        ("source_tag", flt.source_tag),
        ("client_name", flt.client_name),
        ("model", flt.model),
        ("endpoint", flt.endpoint),
        ("status", flt.status),
    )
    for column, value in equal:
        if value is not None:
            clauses.append(f"r.{column} = ?")
            params.append(value)
    if flt.since is not None:
        clauses.append("r.started_at >= ?")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("r.started_at < ?")
        params.append(flt.until)
    if flt.role:
        clauses.append("(',' || r.prompt_roles || ',') LIKE ? ESCAPE '\\'")
        params.append("%," + _like_escape(flt.role) + ",%")
    if flt.with_prompts:
        clauses.append("r.prompt_count > 0")
    if flt.errors_only:
        clauses.append("(r.error_kind IS NOT NULL OR r.status >= 400)")
    if flt.text:
        pattern = "%" + _like_escape(flt.text) + "%"
        clauses.append(
            "(r.request_id LIKE ? ESCAPE '\\' OR r.trace_id LIKE ? ESCAPE '\\' "
            "OR r.model LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM request_prompts p "
            "WHERE p.request_id = r.request_id AND p.text LIKE ? ESCAPE '\\'))"
        )
        params += [pattern] * 4
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_requests(
    conn: sqlite3.Connection, flt: RequestFilter, *, limit: int = 50, offset: int = 0
) -> tuple[list[RequestRow], int]:
    """A page of matching requests (newest first) and the total count of matches."""
    where, params = _where(flt)
    limit = max(1, min(limit, MAX_PAGE))
    total = int(conn.execute(f"SELECT COUNT(*) FROM requests r{where}", params).fetchone()[0])
    rows = conn.execute(
        f"{_SELECT}{where} ORDER BY r.started_at DESC, r.request_id DESC LIMIT ? OFFSET ?",
        [*params, limit, max(0, offset)],
    )
    return [_row(r) for r in rows], total


FACET_COLUMNS = ("run_id", "session_id", "source_tag", "client_name", "model", "endpoint", "status")


def facets(conn: sqlite3.Connection, limit: int = 100) -> dict[str, list[Any]]:
    """The distinct values of each filterable column (most recent first), for filter menus."""
    out: dict[str, list[Any]] = {}
    for column in FACET_COLUMNS:
        sql = (
            f"SELECT {column} FROM requests WHERE {column} IS NOT NULL "
            f"GROUP BY {column} ORDER BY MAX(started_at) DESC LIMIT ?"
        )
        out[column] = [r[0] for r in conn.execute(sql, (limit,))]
    return out


def count_requests(conn: sqlite3.Connection) -> int:
    """How many requests the index holds."""
    return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


# -- retention ---------------------------------------------------------------------------------

Victim = tuple[str, str, str | None, int]
"""(request_id, run_id, bundle_path, bundle_bytes) of a row to prune."""


def _victims(cursor: sqlite3.Cursor) -> list[Victim]:
    return [(str(r[0]), str(r[1]), r[2], int(r[3])) for r in cursor]


def older_than(conn: sqlite3.Connection, cutoff: float) -> list[Victim]:
    """Rows started before `cutoff` (Unix seconds)."""
    sql = (
        "SELECT request_id, run_id, bundle_path, bundle_bytes FROM requests "
        "WHERE started_at < ? ORDER BY started_at"
    )
    return _victims(conn.execute(sql, (cutoff,)))


def runs_oldest_first(conn: sqlite3.Connection) -> list[str]:
    """Every run id in the index, the run with the oldest request first."""
    sql = "SELECT run_id FROM requests GROUP BY run_id ORDER BY MIN(started_at), run_id"
    return [str(r[0]) for r in conn.execute(sql)]


def rows_of_run(conn: sqlite3.Connection, run_id: str) -> list[Victim]:
    """Every row of a run."""
    sql = "SELECT request_id, run_id, bundle_path, bundle_bytes FROM requests WHERE run_id = ?"
    return _victims(conn.execute(sql, (run_id,)))


def total_bundle_bytes(conn: sqlite3.Connection) -> int:
    """The bytes of every indexed bundle together."""
    return int(conn.execute("SELECT COALESCE(SUM(bundle_bytes), 0) FROM requests").fetchone()[0])


def oldest_rows(conn: sqlite3.Connection, limit: int) -> list[Victim]:
    """The `limit` oldest rows that have a bundle."""
    sql = (
        "SELECT request_id, run_id, bundle_path, bundle_bytes FROM requests "
        "WHERE bundle_bytes > 0 ORDER BY started_at, request_id LIMIT ?"
    )
    return _victims(conn.execute(sql, (limit,)))


def delete_requests(conn: sqlite3.Connection, request_ids: list[str]) -> None:
    """Remove rows (and their prompt text)."""
    conn.executemany(
        "DELETE FROM request_prompts WHERE request_id = ?", [(i,) for i in request_ids]
    )
    conn.executemany("DELETE FROM requests WHERE request_id = ?", [(i,) for i in request_ids])
