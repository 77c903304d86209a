"""The endpoint store: CRUD, ordering, the manual switch, errors, and keys encrypted at rest."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from cal.routing.model import Endpoint
from cal.store import StoreError
from cal.store.endpoints import check_url
from cal.store.secrets import Keyring, create_key
from cal.store.store import SECRET_KEY_FILE, Store, open_store

SECRET = "sk-ant-api03-THIS-IS-THE-CLEAR-KEY-0123456789"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cal.db", tmp_path / SECRET_KEY_FILE) as opened:
        yield opened


def _ep(name: str, **fields: object) -> Endpoint:
    base: dict[str, object] = {"url": "https://api.anthropic.com", "format": "anthropic"}
    base.update(fields)
    return Endpoint(name, **base)  # type: ignore[arg-type]


def test_add_then_get_round_trips_every_field(store: Store) -> None:
    endpoint = _ep(
        "main",
        api_key=SECRET,
        model_map={"*": "claude-haiku-4-5", "big": "claude-opus-4"},
        priority=5,
        enabled=False,
    )
    store.add_endpoint(endpoint)
    assert store.get_endpoint("main") == endpoint
    assert store.list_endpoints() == [endpoint]


def test_env_var_endpoints_store_only_the_name(store: Store) -> None:
    store.add_endpoint(
        _ep(
            "viaenv",
            format="openai-chat",
            url="https://api.openai.com/v1",
            api_key_env="OPENAI_API_KEY",
        )
    )
    got = store.get_endpoint("viaenv")
    assert got.api_key is None
    assert got.api_key_env == "OPENAI_API_KEY"


def test_list_orders_by_priority_then_name(store: Store) -> None:
    for name, priority in [("zeta", 1), ("beta", 10), ("alpha", 10), ("omega", 0)]:
        store.add_endpoint(_ep(name, priority=priority))
    assert [e.name for e in store.list_endpoints()] == ["omega", "zeta", "alpha", "beta"]


def test_errors_name_the_endpoint(store: Store) -> None:
    store.add_endpoint(_ep("dup"))
    with pytest.raises(StoreError, match="endpoint 'dup' already exists"):
        store.add_endpoint(_ep("dup"))
    for call in (store.get_endpoint, store.remove_endpoint, store.set_active):
        with pytest.raises(StoreError, match="unknown endpoint 'nope'"):
            call("nope")
    with pytest.raises(StoreError, match="unknown endpoint 'nope'"):
        store.set_enabled("nope", True)


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        (_ep("bad name"), "invalid endpoint name"),
        (_ep("x", url="ftp://host"), "http:// or https://"),
        (_ep("x", url="https://"), "http:// or https://"),
        (_ep("x", url="api.openai.com/v1"), "http:// or https://"),
        (_ep("x", url="https://u:p@host"), "must not carry credentials"),
        (_ep("x", url="https://host/v1?key=1"), "no query"),
        (_ep("x", url="https://host:port"), "invalid URL"),
        (_ep("x", format="claude"), "unknown format"),
        (_ep("x", api_key="k", api_key_env="V"), "not both"),
        (_ep("x", api_key_env="not a var"), "not an environment variable"),
        (_ep("x", api_key="  "), "empty"),
        (_ep("x", model_map={"a": ""}), "invalid model mapping"),
    ],
)
def test_invalid_endpoints_are_refused(store: Store, endpoint: Endpoint, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store.add_endpoint(endpoint)
    assert store.list_endpoints() == []


def test_check_url_accepts_base_urls() -> None:
    for url in ("http://127.0.0.1:8080", "https://api.openai.com/v1", "http://[::1]:3010/v1"):
        check_url(url)


def test_enable_disable(store: Store) -> None:
    store.add_endpoint(_ep("a"))
    store.set_enabled("a", False)
    assert store.get_endpoint("a").enabled is False
    store.set_enabled("a", True)
    assert store.get_endpoint("a").enabled is True


def test_switch_is_persisted_and_refuses_disabled(tmp_path: Path) -> None:
    with Store.open(tmp_path / "cal.db", tmp_path / SECRET_KEY_FILE) as store:
        store.add_endpoint(_ep("a"))
        store.add_endpoint(_ep("b", enabled=False))
        assert store.active_endpoint() is None
        store.set_active("a")
        with pytest.raises(StoreError, match="endpoint 'b' is disabled"):
            store.set_active("b")
    with Store.open(tmp_path / "cal.db", tmp_path / SECRET_KEY_FILE) as again:
        assert again.active_endpoint() == "a"
        assert again.load_snapshot()[2] == "a"


def test_removing_the_active_endpoint_clears_the_switch(store: Store) -> None:
    store.add_endpoint(_ep("a"))
    store.add_endpoint(_ep("b"))
    store.set_active("b")
    store.remove_endpoint("a")
    assert store.active_endpoint() == "b"
    store.remove_endpoint("b")
    assert store.active_endpoint() is None
    assert store.list_endpoints() == []


def test_clear_key_never_reaches_the_database_files(tmp_path: Path) -> None:
    db_path = tmp_path / "cal.db"
    with Store.open(db_path, tmp_path / SECRET_KEY_FILE) as store:
        store.add_endpoint(_ep("secret", api_key=SECRET))
        # while open, the row lives in the -wal file; check it there and after checkpoint
        files = [db_path, db_path.with_name("cal.db-wal")]
        raw = b"".join(p.read_bytes() for p in files if p.exists())
        assert b"secret" in raw  # the row is there (the name is not secret)
        assert SECRET.encode() not in raw
        assert store.get_endpoint("secret").api_key == SECRET
    assert SECRET.encode() not in db_path.read_bytes()
    with sqlite3.connect(db_path) as conn:
        (cipher,) = conn.execute("SELECT api_key_cipher FROM endpoints").fetchone()
    assert isinstance(cipher, bytes)
    assert SECRET.encode() not in cipher


def test_key_file_is_created_on_first_key_and_private(tmp_path: Path) -> None:
    key_path = tmp_path / SECRET_KEY_FILE
    with Store.open(tmp_path / "cal.db", key_path) as store:
        store.add_endpoint(_ep("nokey"))
        assert not key_path.exists()
        store.add_endpoint(_ep("withkey", api_key=SECRET))
    assert key_path.exists()
    if os.name == "posix":
        assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_a_replaced_key_file_is_reported(tmp_path: Path) -> None:
    key_path = tmp_path / SECRET_KEY_FILE
    with Store.open(tmp_path / "cal.db", key_path) as store:
        store.add_endpoint(_ep("a", api_key=SECRET))
    key_path.unlink()
    with (
        Store.open(tmp_path / "cal.db", key_path) as store,
        pytest.raises(StoreError, match="is missing"),
    ):
        store.list_endpoints()
    create_key(key_path)
    with Store.open(tmp_path / "cal.db", key_path) as store:
        with pytest.raises(StoreError, match="does not decrypt"):
            store.get_endpoint("a")
        store.remove_endpoint("a")  # the way out works without the old key
        assert store.list_endpoints() == []


def test_a_key_sealed_for_one_endpoint_does_not_open_for_another(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path / SECRET_KEY_FILE)
    blob = keyring.encrypt(SECRET, "a")
    assert keyring.decrypt(blob, "a") == SECRET
    with pytest.raises(StoreError, match="does not decrypt"):
        keyring.decrypt(blob, "b")


def test_create_key_keeps_an_existing_key(tmp_path: Path) -> None:
    key_path = tmp_path / "sub" / SECRET_KEY_FILE
    first = create_key(key_path)
    assert create_key(key_path) == first
    assert list(key_path.parent.iterdir()) == [key_path]  # no temporary files left behind


def test_damaged_key_file_is_reported(tmp_path: Path) -> None:
    key_path = tmp_path / SECRET_KEY_FILE
    key_path.write_text("not a key")
    with pytest.raises(StoreError, match="damaged"):
        Keyring(key_path).encrypt("x", "a")


def test_data_version_sees_changes_from_another_store(tmp_path: Path) -> None:
    db_path, key_path = tmp_path / "cal.db", tmp_path / SECRET_KEY_FILE
    with Store.open(db_path, key_path) as runtime, Store.open(db_path, key_path) as cli:
        seen, endpoints, active = runtime.load_snapshot()
        assert (endpoints, active) == ([], None)
        assert runtime.data_version() == seen
        cli.add_endpoint(_ep("new", api_key=SECRET))
        assert runtime.data_version() != seen
        _, endpoints, _ = runtime.load_snapshot()
        assert [e.api_key for e in endpoints] == [SECRET]


def test_open_store_uses_the_settings_paths(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    with open_store(settings) as store:
        store.add_endpoint(_ep("a", api_key=SECRET))
    assert settings.db_path.exists()
    assert (settings.data_dir / SECRET_KEY_FILE).exists()


def test_racing_key_creation_agrees_on_one_key(tmp_path: Path) -> None:
    key_path = tmp_path / SECRET_KEY_FILE
    results: list[bytes] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        barrier.wait()
        results.append(create_key(key_path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert len(set(results)) == 1
    assert list(tmp_path.iterdir()) == [key_path]


async def test_one_store_serves_many_worker_threads(store: Store) -> None:
    async def add(i: int) -> None:
        await trio.to_thread.run_sync(store.add_endpoint, _ep(f"e{i:02d}", api_key=f"{SECRET}{i}"))
        await trio.to_thread.run_sync(store.list_endpoints)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(add, i)
    endpoints = await trio.to_thread.run_sync(store.list_endpoints)
    assert [e.api_key for e in endpoints] == [f"{SECRET}{i}" for i in range(20)]
