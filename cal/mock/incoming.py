"""A request as the mock sees it: ASGI types, the recorded copy, the mock's own headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Header = tuple[bytes, bytes]


class ReceivedRequest(msgspec.Struct, frozen=True):
    """One request as it reached the mock: header names and values decoded latin-1, raw body."""

    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class MockRequestError(Exception):
    """A request the mock rejects with 400 (bad JSON, unknown fault term, bad X-Mock header)."""


class Incoming:
    """A request's parts and the mock's own headers, read once."""

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.method: str = scope.get("method", "GET")
        self.path: str = scope["path"]
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        self.body = body
        self.names = frozenset(name.lower().decode("latin-1") for name, _ in self.headers)
        self.mock: dict[bytes, str] = {
            name.lower(): value.decode("latin-1")
            for name, value in self.headers
            if name.lower().startswith(b"x-mock-")
        }

    def record(self) -> ReceivedRequest:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
        return ReceivedRequest(self.method, self.path, self.query, headers, self.body)

    def mock_int(self, name: bytes, default: int) -> int:
        value = self.mock.get(name)
        if value is None:
            return default
        if not value.strip().isdigit():
            raise MockRequestError(f"header {name.decode()} must be a non-negative integer")
        return int(value)
