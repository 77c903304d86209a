"""The SQLite connection: a private file, WAL, versioned migrations, short locked transactions.

The API is synchronous (sqlite3); async code calls it through `trio.to_thread.run_sync`. One
Database may be used from several threads: a lock serialises its connection.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from cal.store.schema import MIGRATIONS, Migration

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """A store operation failed; the message says what went wrong and, where it can, what to do."""


def ensure_private_file(path: Path) -> None:
    """Create `path` (and its parent dir) readable by its owner only, or tighten it if it exists."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    enforce_private_mode(path)


def enforce_private_mode(path: Path) -> None:
    """Make an existing file 0600 where the OS has POSIX modes (Windows: the profile ACL applies)."""
    if os.name != "posix" or not path.exists():
        return
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(PRIVATE_FILE_MODE)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating it 0600) the database at `path` in WAL mode with cal's pragmas."""
    try:
        ensure_private_file(path)
        for suffix in ("-wal", "-shm"):
            enforce_private_mode(path.with_name(path.name + suffix))
    except OSError as exc:
        raise StoreError(f"cannot create the database file {path}: {exc}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"the database {path} cannot use WAL mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    except StoreError:
        conn.close()
        raise
    return conn


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the database (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def split_statements(sql: str) -> list[str]:
    """`sql` cut into single statements (semicolons inside strings and triggers are kept)."""
    statements: list[str] = []
    buffer = ""
    *pieces, last = sql.split(";")
    for piece in pieces:
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if (buffer + last).strip():
        statements.append((buffer + last).strip())
    return statements


def check_migrations(migrations: Sequence[Migration]) -> None:
    """Raise StoreError unless the versions run 1, 2, 3… without gaps."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StoreError(
                f"migration {migration.name!r} has version {migration.version}, expected {expected}"
            )


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every migration newer than the database's version; returns the version reached."""
    check_migrations(migrations)
    latest = len(migrations)
    found = user_version(conn)
    if found > latest:
        raise StoreError(
            f"the database is at schema version {found}, newer than this cal knows ({latest}): "
            "upgrade cal"
        )
    for migration in migrations[found:]:
        _apply(conn, migration)
    return user_version(conn)


def _apply(conn: sqlite3.Connection, migration: Migration) -> None:
    """Run one migration in its own transaction (a no-op if another process just ran it)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = user_version(conn)
        if current < migration.version:
            if current != migration.version - 1:
                raise StoreError(f"database at version {current} cannot take {migration.name!r}")
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {int(migration.version)}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.execute("ROLLBACK")
        raise StoreError(
            f"migration {migration.version} ({migration.name}) failed: {exc}"
        ) from None
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class Database:
    """One migrated connection; queries run inside `read()` / `write()` transactions."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.path = path
        self._conn = conn
        self._lock = threading.Lock()
        self._own_writes = 0
        self._closed = False

    @classmethod
    def open(cls, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> Database:
        """Open the database at `path` (created 0600) and bring its schema up to date."""
        conn = connect(path)
        try:
            migrate(conn, migrations)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same snapshot."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on success and rolled back on any exception."""
        with self._transaction("BEGIN IMMEDIATE", writes=True) as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str, *, writes: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                self._conn.execute(begin)
            except sqlite3.Error as exc:
                raise _mapped(exc) from None
            try:
                yield self._conn
                self._conn.execute("COMMIT")
                self._own_writes += writes
            except sqlite3.Error as exc:
                self._rollback()
                raise _mapped(exc) from None
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def data_version(self) -> int:
        """A number that changes whenever any connection (in any process) commits a change.

        SQLite's `PRAGMA data_version` only moves for other connections' commits, so this
        connection's own writes are added in: the sum changes for every committed write.
        """
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            try:
                version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error as exc:
                raise _mapped(exc) from None
            return version + self._own_writes

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


def _mapped(exc: sqlite3.Error) -> StoreError:
    """sqlite3's exceptions as StoreError (the one place they are translated)."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreError("the database is busy (another cal process is writing to it): try again")
    return StoreError(f"database error: {exc}")
