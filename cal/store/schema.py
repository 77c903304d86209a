"""The database schema as an ordered list of migrations.

Each migration runs once, in its own transaction, and moves `PRAGMA user_version` to its version.

How to add one: append `Migration(N + 1, "short_name", SQL)` at the end of MIGRATIONS (the SQL may
live in the module that owns the tables, e.g. `cal/store/requests.py`, and be imported here).
Never edit, reorder or remove a migration that has shipped: a database that already applied it will
not run it again. To change a table, add a new migration (ALTER TABLE, or create-copy-drop-rename).
"""

from __future__ import annotations

from typing import NamedTuple

from cal.store.ledger import LEDGER_V3
from cal.store.requests import REQUESTS_V2


class Migration(NamedTuple):
    """One step of the schema: `sql` takes a database at `version - 1` to `version`."""

    version: int
    name: str
    sql: str


_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

ENDPOINTS_V1 = f"""
CREATE TABLE endpoints (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    api_key_cipher BLOB,
    api_key_env TEXT,
    model_map TEXT NOT NULL DEFAULT '{{}}',
    priority INTEGER NOT NULL DEFAULT 100,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at TEXT NOT NULL DEFAULT {_NOW},
    updated_at TEXT NOT NULL DEFAULT {_NOW},
    CHECK (api_key_cipher IS NULL OR api_key_env IS NULL)
);
CREATE TABLE app_state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

ENDPOINTS_V4 = """
ALTER TABLE endpoints ADD COLUMN extra_keys_cipher BLOB;
ALTER TABLE endpoints ADD COLUMN timeouts TEXT NOT NULL DEFAULT '{}';
"""
"""Credential pools (further keys, encrypted together as one JSON list) and per-endpoint timeouts."""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "endpoints", ENDPOINTS_V1),
    Migration(2, "requests", REQUESTS_V2),
    Migration(3, "usage_ledger", LEDGER_V3),
    Migration(4, "endpoint_pools", ENDPOINTS_V4),
)
"""Every migration, in order. Append only (see the module docstring)."""
