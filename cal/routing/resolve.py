"""Which endpoint serves a request (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from cal.routing.model import Endpoint


def enabled_in_order(endpoints: Sequence[Endpoint]) -> list[Endpoint]:
    """Enabled endpoints, lowest priority number first, then by name."""
    return sorted((e for e in endpoints if e.enabled), key=lambda e: (e.priority, e.name))


def choose_endpoint(endpoints: Sequence[Endpoint], active: str | None) -> Endpoint | None:
    """The active endpoint when it is enabled, else the first enabled one; None when none is."""
    ordered = enabled_in_order(endpoints)
    for endpoint in ordered:
        if endpoint.name == active:
            return endpoint
    return ordered[0] if ordered else None
