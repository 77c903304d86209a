"""Endpoint rows: validation, and the queries behind Store's endpoint methods.

Every function takes an open transaction's connection; the API key goes through a Keyring on
its way in and out, so the clear key exists only in memory.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any
from urllib.parse import urlsplit

import msgspec

from cal.formats import parse_format
from cal.routing.model import Endpoint
from cal.store.db import StoreError
from cal.store.secrets import Keyring

ACTIVE_KEY = "active_endpoint"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV_VAR_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_COLUMNS = (
    "name, url, format, api_key_cipher, api_key_env, model_map, priority, enabled, "
    "extra_keys_cipher, timeouts"
)
_POOL_CONTEXT = "{name}#pool"
"""Encryption context of an endpoint's further keys (bound to its name, apart from the first)."""


def check_url(url: str) -> None:
    """Raise StoreError unless `url` is an http(s) base URL with a host and nothing secret in it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise StoreError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StoreError(f"invalid URL {url!r}: expected http:// or https:// and a host")
    if parts.username or parts.password:
        raise StoreError("the URL must not carry credentials: give the key with --api-key")
    if parts.query or parts.fragment:
        raise StoreError(f"invalid URL {url!r}: a base URL has no query or fragment")


def check_endpoint(endpoint: Endpoint) -> None:
    """Raise StoreError when `endpoint` cannot be stored as it is."""
    if not NAME_PATTERN.fullmatch(endpoint.name):
        raise StoreError(
            f"invalid endpoint name {endpoint.name!r}: use letters, digits, '.', '_' and '-' "
            "(up to 64, starting with a letter or digit)"
        )
    check_url(endpoint.url)
    try:
        parse_format(endpoint.format)
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    if endpoint.api_key is not None and endpoint.api_key_env is not None:
        raise StoreError("give an API key or the name of a variable that holds it, not both")
    if endpoint.api_key is not None and not endpoint.api_key.strip():
        raise StoreError("the API key is empty")
    if endpoint.api_key_env is not None and not ENV_VAR_PATTERN.fullmatch(endpoint.api_key_env):
        raise StoreError(f"{endpoint.api_key_env!r} is not an environment variable name")
    if endpoint.extra_api_keys and endpoint.api_key is None:
        raise StoreError("further keys need a first key: give --api-key more than once")
    if any(not key.strip() for key in endpoint.extra_api_keys):
        raise StoreError("an API key is empty")
    for setting, value in endpoint.timeouts().items():
        if not value > 0:
            raise StoreError(f"{setting} must be more than 0 seconds, got {value:g}")
    for source, target in endpoint.model_map.items():
        if not source or not target:
            raise StoreError(f"invalid model mapping {source!r} -> {target!r}: both sides needed")


def _row_to_endpoint(row: tuple[Any, ...], keyring: Keyring) -> Endpoint:
    name, url, fmt, cipher, env, model_map, priority, enabled, pool_cipher, timeouts = row
    api_key = None if cipher is None else keyring.decrypt(bytes(cipher), str(name))
    try:
        mapping = msgspec.json.decode(str(model_map), type=dict[str, str])
        extra: list[str] = []
        if pool_cipher is not None:
            plain = keyring.decrypt(bytes(pool_cipher), _POOL_CONTEXT.format(name=name))
            extra = msgspec.json.decode(plain, type=list[str])
        limits = msgspec.json.decode(str(timeouts), type=dict[str, float])
        return Endpoint(
            name=str(name),
            url=str(url),
            format=parse_format(str(fmt)),
            api_key=api_key,
            api_key_env=None if env is None else str(env),
            model_map=mapping,
            priority=int(priority),
            enabled=bool(enabled),
            extra_api_keys=tuple(extra),
            connect_timeout_s=limits.get("connect_timeout_s"),
            first_byte_timeout_s=limits.get("first_byte_timeout_s"),
            idle_timeout_s=limits.get("idle_timeout_s"),
            total_timeout_s=limits.get("total_timeout_s"),
        )
    except (msgspec.DecodeError, ValueError) as exc:
        raise StoreError(f"the stored endpoint {name!r} is damaged: {exc}") from None


def list_endpoints(conn: sqlite3.Connection, keyring: Keyring) -> list[Endpoint]:
    """Every endpoint, lowest priority number first, then by name."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM endpoints ORDER BY priority, name").fetchall()
    return [_row_to_endpoint(row, keyring) for row in rows]


def get_endpoint(conn: sqlite3.Connection, keyring: Keyring, name: str) -> Endpoint:
    """The endpoint called `name`; StoreError if there is none."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM endpoints WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise StoreError(f"unknown endpoint {name!r}")
    return _row_to_endpoint(row, keyring)


def insert_endpoint(conn: sqlite3.Connection, keyring: Keyring, endpoint: Endpoint) -> None:
    """Store a new endpoint (its key encrypted); StoreError if the name is taken."""
    check_endpoint(endpoint)
    if _exists(conn, endpoint.name):
        raise StoreError(f"endpoint {endpoint.name!r} already exists")
    cipher = pool_cipher = None
    if endpoint.api_key is not None:
        cipher = keyring.encrypt(endpoint.api_key, endpoint.name)
    if endpoint.extra_api_keys:
        plain = msgspec.json.encode(list(endpoint.extra_api_keys)).decode()
        pool_cipher = keyring.encrypt(plain, _POOL_CONTEXT.format(name=endpoint.name))
    conn.execute(
        f"INSERT INTO endpoints ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            endpoint.name,
            endpoint.url,
            endpoint.format,
            cipher,
            endpoint.api_key_env,
            msgspec.json.encode(endpoint.model_map).decode(),
            endpoint.priority,
            int(endpoint.enabled),
            pool_cipher,
            msgspec.json.encode(endpoint.timeouts()).decode(),
        ),
    )


def delete_endpoint(conn: sqlite3.Connection, name: str) -> None:
    """Remove an endpoint (and the manual switch if it pointed there)."""
    if conn.execute("DELETE FROM endpoints WHERE name = ?", (name,)).rowcount == 0:
        raise StoreError(f"unknown endpoint {name!r}")
    conn.execute("DELETE FROM app_state WHERE key = ? AND value = ?", (ACTIVE_KEY, name))


def update_enabled(conn: sqlite3.Connection, name: str, enabled: bool) -> None:
    """Enable or disable an endpoint."""
    cursor = conn.execute(
        "UPDATE endpoints SET enabled = ?, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
        "WHERE name = ?",
        (int(enabled), name),
    )
    if cursor.rowcount == 0:
        raise StoreError(f"unknown endpoint {name!r}")


def write_active(conn: sqlite3.Connection, name: str) -> None:
    """Make `name` the manually chosen endpoint; it must exist and be enabled."""
    row = conn.execute("SELECT enabled FROM endpoints WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise StoreError(f"unknown endpoint {name!r}")
    if not row[0]:
        raise StoreError(f"endpoint {name!r} is disabled: enable it before switching to it")
    conn.execute(
        "INSERT INTO app_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (ACTIVE_KEY, name),
    )


def read_active(conn: sqlite3.Connection) -> str | None:
    """The manually chosen endpoint's name, if one was chosen."""
    row = conn.execute("SELECT value FROM app_state WHERE key = ?", (ACTIVE_KEY,)).fetchone()
    return None if row is None else str(row[0])


def _exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM endpoints WHERE name = ?", (name,)).fetchone() is not None
