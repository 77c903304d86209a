"""Which endpoints serve a request, in the order they are tried (pure).

Order: an endpoint the client pinned (header `X-CAL-Endpoint: NAME` or a model `@NAME/model`)
alone; otherwise the enabled endpoints whose model map names the client's model, then the others,
each group with the active endpoint first and then by priority.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from cal.routing.model import Endpoint

PIN_HEADER = "x-cal-endpoint"


class PinError(ValueError):
    """The client pinned an endpoint that is unknown or disabled; the message names it."""


class Resolution(msgspec.Struct, frozen=True):
    """The endpoints to try, the model the client meant, and why the first was chosen."""

    candidates: list[Endpoint]
    model: str | None
    """The client's model without an `@endpoint/` prefix."""
    pinned: str | None = None
    reason: str = ""


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


def split_pin(model: str | None) -> tuple[str | None, str | None]:
    """(`name`, `model`) for `@name/model`; (None, model) otherwise."""
    if model is None or not model.startswith("@") or "/" not in model:
        return None, model
    name, _, rest = model[1:].partition("/")
    return (name or None), rest


def _pinned(endpoints: Sequence[Endpoint], name: str, how: str) -> Endpoint:
    for endpoint in endpoints:
        if endpoint.name == name:
            if not endpoint.enabled:
                raise PinError(f"endpoint {name!r} ({how}) is disabled")
            return endpoint
    raise PinError(f"unknown endpoint {name!r} ({how})")


def resolve(
    endpoints: Sequence[Endpoint], active: str | None, model: str | None, pin: str | None
) -> Resolution:
    """The candidates for a request with `model`, pinned by header value `pin` (or None)."""
    prefix, bare = split_pin(model)
    if pin:
        return Resolution([_pinned(endpoints, pin, "X-CAL-Endpoint")], bare, pin, "pinned")
    if prefix is not None:
        chosen = _pinned(endpoints, prefix, "model prefix")
        return Resolution([chosen], bare, prefix, "pinned by model prefix")
    ordered = enabled_in_order(endpoints)
    ordered.sort(key=lambda e: e.name != active)  # stable: active first, then priority
    if bare is not None and any(bare in e.model_map for e in ordered):
        ordered.sort(key=lambda e: bare not in e.model_map)
        return Resolution(ordered, bare, None, f"model map names {bare!r}")
    reason = "active endpoint" if ordered and ordered[0].name == active else "priority"
    return Resolution(ordered, bare, None, reason)
