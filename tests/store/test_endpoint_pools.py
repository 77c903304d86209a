"""Credential pools and per-endpoint timeouts in the store: encrypted at rest, round-tripped."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cal.routing.model import Endpoint
from cal.store import StoreError
from cal.store.store import SECRET_KEY_FILE, Store

FIRST, SECOND = "sk-pool-first-key-000000000001", "sk-pool-second-key-00000000002"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "cal.db", tmp_path / SECRET_KEY_FILE) as opened:
        yield opened


def _pool(**fields: object) -> Endpoint:
    values: dict[str, object] = {
        "name": "pool",
        "url": "https://api.anthropic.com",
        "format": "anthropic",
        "api_key": FIRST,
        "extra_api_keys": (SECOND,),
    }
    values.update(fields)
    return Endpoint(**values)  # type: ignore[arg-type]


def test_pool_and_timeouts_round_trip(store: Store, tmp_path: Path) -> None:
    store.add_endpoint(_pool(first_byte_timeout_s=30.0, idle_timeout_s=12.5))
    loaded = store.get_endpoint("pool")
    assert loaded.api_keys == (FIRST, SECOND)
    assert loaded.timeouts() == {"first_byte_timeout_s": 30.0, "idle_timeout_s": 12.5}
    raw = (tmp_path / "cal.db").read_bytes()
    assert FIRST.encode() not in raw and SECOND.encode() not in raw


def test_an_endpoint_without_a_pool_has_none(store: Store) -> None:
    store.add_endpoint(_pool(name="single", extra_api_keys=()))
    loaded = store.get_endpoint("single")
    assert loaded.extra_api_keys == () and loaded.timeouts() == {}


def test_the_pool_cipher_is_bound_to_the_endpoint(store: Store, tmp_path: Path) -> None:
    store.add_endpoint(_pool())
    store.add_endpoint(_pool(name="other", api_key="sk-other-key-0000000000003", extra_api_keys=()))
    with sqlite3.connect(tmp_path / "cal.db") as conn:
        conn.execute(
            "UPDATE endpoints SET extra_keys_cipher = "
            "(SELECT extra_keys_cipher FROM endpoints WHERE name = 'pool') WHERE name = 'other'"
        )
    with pytest.raises(StoreError):
        store.get_endpoint("other")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"api_key": None}, "further keys need a first key"),
        ({"extra_api_keys": (" ",)}, "an API key is empty"),
        ({"total_timeout_s": 0.0}, "total_timeout_s must be more than 0 seconds"),
    ],
)
def test_bad_pools_and_timeouts_are_refused(
    store: Store, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.add_endpoint(_pool(**fields))
