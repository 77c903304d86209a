"""The database file: permissions, WAL, pragmas, migrations and upgrades, data_version."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from cal.store.db import Database, StoreError, connect, migrate, split_statements, user_version
from cal.store.schema import MIGRATIONS, Migration

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {row[0] for row in rows}


def test_open_creates_parent_dir_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "cal.db"
    db = Database.open(path)
    db.close()
    assert path.is_file()
    assert {"endpoints", "app_state"} <= _tables(path)
    with sqlite3.connect(path) as conn:
        assert user_version(conn) == len(MIGRATIONS)


@posix_only
def test_database_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    db = Database.open(path)
    with db.write() as conn:
        conn.execute("INSERT INTO app_state VALUES ('k', 'v')")
    assert _mode(path) == 0o600
    assert _mode(path.with_name("cal.db-wal")) == 0o600
    db.close()


@posix_only
def test_loose_permissions_are_tightened_on_open(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    Database.open(path).close()
    path.chmod(0o644)
    Database.open(path).close()
    assert _mode(path) == 0o600


def test_connection_pragmas(tmp_path: Path) -> None:
    conn = connect(tmp_path / "cal.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()


def test_a_version_1_database_upgrades(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1
    conn.execute("INSERT INTO app_state VALUES ('kept', 'yes')")
    conn.close()

    extra = Migration(len(MIGRATIONS) + 1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY);")
    newer = (*MIGRATIONS, extra)
    db = Database.open(path, newer)
    with db.read() as conn:
        assert user_version(conn) == len(newer)
        assert conn.execute("SELECT value FROM app_state WHERE key = 'kept'").fetchone() == ("yes",)
    db.close()
    assert "notes" in _tables(path)


def test_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    Database.open(path).close()
    Database.open(path).close()  # CREATE TABLE would fail if migration 1 ran again
    with sqlite3.connect(path) as conn:
        assert user_version(conn) == len(MIGRATIONS)


def test_a_failing_migration_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    broken = (
        *MIGRATIONS,
        Migration(
            len(MIGRATIONS) + 1, "broken", "CREATE TABLE t (x); INSERT INTO nowhere VALUES (1);"
        ),
    )
    with pytest.raises(StoreError, match="broken"):
        Database.open(path, broken)
    assert "t" not in _tables(path)
    with sqlite3.connect(path) as conn:
        assert user_version(conn) == len(MIGRATIONS)


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    Database.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer than this cal"):
        Database.open(path)


def test_migration_versions_must_be_consecutive(tmp_path: Path) -> None:
    gap = (*MIGRATIONS, Migration(len(MIGRATIONS) + 2, "gap", "SELECT 1;"))
    with pytest.raises(StoreError, match="expected"):
        Database.open(tmp_path / "cal.db", gap)


def test_split_statements_keeps_semicolons_in_strings_and_triggers() -> None:
    sql = """
    CREATE TABLE t (x TEXT DEFAULT ';');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET x = 'a;b'; END;
    INSERT INTO t VALUES ('c;d')
    """
    statements = split_statements(sql)
    assert len(statements) == 3
    assert statements[1].endswith("END;")
    assert statements[2] == "INSERT INTO t VALUES ('c;d')"


def test_data_version_moves_when_another_connection_writes(tmp_path: Path) -> None:
    path = tmp_path / "cal.db"
    db = Database.open(path)
    before = db.data_version()
    assert db.data_version() == before  # reading does not move it
    other = sqlite3.connect(path)
    with other:
        other.execute("INSERT INTO app_state VALUES ('k', 'v')")
    other.close()
    assert db.data_version() != before
    db.close()


def test_data_version_moves_on_own_writes(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "cal.db")
    before = db.data_version()
    with db.write() as conn:
        conn.execute("INSERT INTO app_state VALUES ('k', 'v')")
    assert db.data_version() != before
    db.close()


def _insert_twice(db: Database, key: str, fail: Exception | None) -> None:
    with db.write() as conn:
        conn.execute("INSERT INTO app_state VALUES (?, 'v')", (key,))
        if fail is not None:
            raise fail
        conn.execute("INSERT INTO app_state VALUES (?, 'v')", (key,))


def test_write_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "cal.db")
    with pytest.raises(RuntimeError):
        _insert_twice(db, "k", RuntimeError("boom"))
    with pytest.raises(StoreError, match="UNIQUE"):
        _insert_twice(db, "k2", None)
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM app_state").fetchone() == (0,)
    db.close()


def test_closed_database_says_so(tmp_path: Path) -> None:
    db = Database.open(tmp_path / "cal.db")
    db.close()
    db.close()
    with pytest.raises(StoreError, match="closed"):
        db.data_version()
    with pytest.raises(StoreError, match="closed"), db.read():
        pass
