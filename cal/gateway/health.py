"""Upstream health the gateway learns from traffic: credential pools and rate-limit state.

One RouteHealth is built by the runtime and shared by every request (no module-level state).
The decisions are routing/'s; this object only keeps what they need between requests, and
reports it for `/debug/obs/api/status`. It holds credential ids and masked keys, never a key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from cal.config import secret_from_env
from cal.routing.credentials import CLIENT_CREDENTIAL, CredentialBook, credential_ids
from cal.routing.model import Endpoint, mask_key
from cal.routing.ratelimit import Header, RateLimits, parse_rate_limits

Clock = Callable[[], float]


def endpoint_keys(endpoint: Endpoint) -> list[str]:
    """The clear keys of the endpoint's pool: stored keys, else the one its env var holds."""
    if endpoint.api_keys:
        return list(endpoint.api_keys)
    if endpoint.api_key_env and (key := secret_from_env(endpoint.api_key_env)):
        return [key]
    return []


def _fingerprint(keys: Sequence[str]) -> int:
    """Tells one key pool from another within this process (a salted hash: not a key, and
    cheap, as every attempt's pick asks for it)."""
    return hash(tuple(keys))


class Credential(msgspec.Struct, frozen=True):
    """A key chosen for one attempt: its id (recorded) and the key (sent, never recorded)."""

    id: str
    key: str | None
    """None: forward the client's own credential."""


class RouteHealth:
    """Credential health and the latest rate-limit headers per (endpoint, credential)."""

    def __init__(
        self,
        clock: Clock = time.time,
        on_cooldown: Callable[[str, str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.book = CredentialBook()
        self._limits: dict[tuple[str, str], RateLimits] = {}
        self.on_cooldown = on_cooldown
        """Told (endpoint, reason) whenever a key is cooled down or taken out (metrics)."""

    def cool(self, endpoint: str, credential: str, until: float, reason: str) -> None:
        """Keep a key out of use until `until`."""
        self.book.cool(endpoint, credential, until, reason)
        if self.on_cooldown is not None:
            self.on_cooldown(
                endpoint, "rate_limited" if reason.startswith(("429", "rate")) else reason
            )

    def take_out(self, endpoint: str, credential: str, reason: str) -> None:
        """Take a key out of use (rejected by the upstream) until the endpoint changes."""
        self.book.take_out(endpoint, credential, reason)
        if self.on_cooldown is not None:
            self.on_cooldown(endpoint, "rejected")

    def pool(self, endpoint: Endpoint) -> dict[str, str | None]:
        """Credential id → key for the endpoint (`client` → None when it holds no key)."""
        keys = endpoint_keys(endpoint)
        self.book.sync(endpoint.name, _fingerprint(keys))
        ids = credential_ids(len(keys))
        if not keys:
            return {CLIENT_CREDENTIAL: None}
        return dict(zip(ids, keys, strict=True))

    def pick(self, endpoint: Endpoint, slack_s: float = 0.05) -> Credential | None:
        """The least recently used ready credential of the endpoint, or None."""
        pool = self.pool(endpoint)
        chosen = self.book.pick(endpoint.name, list(pool), self.clock() + slack_s)
        return None if chosen is None else Credential(chosen, pool[chosen])

    def any_ready(self, endpoint: Endpoint, other_than: str | None = None) -> bool:
        pool = [c for c in self.pool(endpoint) if c != other_than]
        return self.book.pick(endpoint.name, pool, self.clock()) is not None

    def retry_at(self, endpoint: Endpoint) -> float | None:
        return self.book.retry_at(endpoint.name, list(self.pool(endpoint)))

    def observe(
        self, endpoint: str, credential: str, headers: Iterable[Header]
    ) -> RateLimits | None:
        """Keep the rate-limit state a response carried; cool the key when a window is spent."""
        limits = parse_rate_limits(headers, self.clock())
        if limits is None:
            return None
        self._limits[(endpoint, credential)] = limits
        blocked = limits.blocked_until()
        if credential != CLIENT_CREDENTIAL and blocked is not None and blocked > self.clock():
            self.cool(endpoint, credential, blocked, "rate limit spent until its reset")
        return limits

    def status(self, endpoints: Sequence[Endpoint]) -> dict[str, Any]:
        """Per endpoint: its credentials' health and the latest rate-limit state (no secrets)."""
        now = self.clock()
        out: dict[str, Any] = {}
        for endpoint in endpoints:
            pool = self.pool(endpoint)
            credentials = self.book.report(endpoint.name, now)
            for cred, key in pool.items():
                row = credentials.setdefault(cred, {"ready": True, "requests": 0})
                row["key"] = mask_key(key)
            limits = {
                cred: msgspec.to_builtins(value)
                for (name, cred), value in sorted(self._limits.items())
                if name == endpoint.name
            }
            out[endpoint.name] = {"credentials": credentials, "rate_limits": limits}
        return out
