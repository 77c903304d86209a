"""Credential pools: which key of an endpoint to use next, and each key's health (pure).

A credential is named by the endpoint and an id (`cred-1`, `cred-2`… by position in the pool,
`client` for the client's own forwarded credential): ids, never keys, leave this module's callers.
A CredentialBook is owned by the runtime and mutated only through its methods; every method that
depends on time takes `now` (epoch seconds).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

CLIENT_CREDENTIAL = "client"


def credential_ids(key_count: int) -> list[str]:
    """Ids of a pool of `key_count` keys; `client` when the endpoint has none."""
    if key_count == 0:
        return [CLIENT_CREDENTIAL]
    return [f"cred-{i + 1}" for i in range(key_count)]


class CredentialHealth(msgspec.Struct, kw_only=True):
    """What cal knows about one credential (shown in status; no secret in it)."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    last_used: float | None = None
    last_status: int | None = None
    cooling_until: float | None = None
    cooling_reason: str | None = None
    taken_out: str | None = None
    """Why the key is out of the pool (a 401/403), until the endpoint's keys change."""

    def ready(self, now: float) -> bool:
        """Usable now: not taken out and not cooling down."""
        return self.taken_out is None and (self.cooling_until is None or self.cooling_until <= now)


class Blocked(msgspec.Struct, frozen=True):
    """No credential of the candidates is usable now."""

    retry_at: float | None
    """The earliest time one cools down; None when every one is taken out."""


class CredentialBook:
    """Health of every credential the gateway has used, keyed by (endpoint, id)."""

    def __init__(self) -> None:
        self._health: dict[tuple[str, str], CredentialHealth] = {}
        self._fingerprints: dict[str, int] = {}

    def health(self, endpoint: str, credential: str) -> CredentialHealth:
        return self._health.setdefault((endpoint, credential), CredentialHealth())

    def sync(self, endpoint: str, fingerprint: int) -> None:
        """Forget an endpoint's health when its keys changed (`fingerprint` is not a key)."""
        if self._fingerprints.get(endpoint) == fingerprint:
            return
        self._fingerprints[endpoint] = fingerprint
        for key in [k for k in self._health if k[0] == endpoint]:
            del self._health[key]

    def pick(self, endpoint: str, ids: Sequence[str], now: float) -> str | None:
        """The least recently used ready credential of `ids` (pool order breaks ties)."""
        ready = [c for c in ids if self.health(endpoint, c).ready(now)]
        if len(ready) < 2:
            return ready[0] if ready else None
        never = float("-inf")  # a key never used goes first

        def order(c: str) -> tuple[float, int]:
            last = self.health(endpoint, c).last_used
            return (never if last is None else last, ids.index(c))

        return min(ready, key=order)

    def retry_at(self, endpoint: str, ids: Sequence[str]) -> float | None:
        """When the first cooling credential of `ids` is usable again; None if all are out."""
        times = [
            h.cooling_until
            for h in (self.health(endpoint, c) for c in ids)
            if h.taken_out is None and h.cooling_until is not None
        ]
        return min(times) if times else None

    def used(self, endpoint: str, credential: str, now: float) -> None:
        health = self.health(endpoint, credential)
        health.requests += 1
        health.last_used = now

    def answered(self, endpoint: str, credential: str, status: int | None) -> None:
        """Record an attempt's final status (None: no answer at all)."""
        health = self.health(endpoint, credential)
        health.last_status = status
        if status is None or status >= 400:
            health.errors += 1

    def add_tokens(self, endpoint: str, credential: str, input_tokens: int, output: int) -> None:
        health = self.health(endpoint, credential)
        health.input_tokens += input_tokens
        health.output_tokens += output

    def cool(self, endpoint: str, credential: str, until: float, reason: str) -> None:
        """Keep the credential out of use until `until` (a later cooldown wins)."""
        health = self.health(endpoint, credential)
        if health.cooling_until is None or until > health.cooling_until:
            health.cooling_until, health.cooling_reason = until, reason

    def take_out(self, endpoint: str, credential: str, reason: str) -> None:
        self.health(endpoint, credential).taken_out = reason

    def report(self, endpoint: str, now: float) -> dict[str, dict[str, object]]:
        """Every known credential of `endpoint` as builtins, with `ready` computed at `now`."""
        out: dict[str, dict[str, object]] = {}
        for (name, credential), health in sorted(self._health.items()):
            if name == endpoint:
                row: dict[str, object] = msgspec.to_builtins(health)
                row["ready"] = health.ready(now)
                out[credential] = row
        return out
