"""store/: cal's SQLite database (endpoints, app state, the request index, the usage ledger).

Rule: everything durable goes through a Store (`cal.store.store`). Its API is synchronous
(sqlite3): async code calls it with `trio.to_thread.run_sync`. API keys are encrypted before they
reach the database and exist in the clear only in memory. The schema changes only by appending a
migration to `schema.py`. This package file imports nothing heavy: the capture worker process
reaches `cal.store.db` through it and has no use for the keyring's cryptography (8 MB resident).
"""

from __future__ import annotations

from cal.store.db import Database, StoreError

__all__ = ["Database", "StoreError"]
