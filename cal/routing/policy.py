"""What to do after an upstream attempt: done, retry, fail over or give up (pure).

The gateway describes each finished attempt as an Outcome; `decide` answers with a Decision.
Time (`now`, epoch seconds) and randomness (`rand`, a float in [0, 1)) are passed in.

| outcome | same credential | other credential | next endpoint |
|---|---|---|---|
| connect error, timeout before the first byte, cut before the first byte | retry (backoff) | - | when tries are spent |
| 408, 409, 500, 502, 503, 504, 529 | retry (backoff) | - | when tries are spent |
| 429 | after Retry-After / reset (when short) | at once, if one is ready | when the wait is long or tries are spent |
| 401, 403 | never (the key is taken out) | at once | when no key is left |
| 404 | never | never | yes |
| 400, 413, 422, other 4xx | never | never | never: the request itself is wrong |
| any byte already sent to the client | never | never | never |
| `x-should-retry: false` on a retryable status | never | never | yes |
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cal.routing.ratelimit import RateLimits

OutcomeKind = Literal["ok", "status", "connect", "timeout", "stream_cut", "protocol"]
Action = Literal["done", "retry", "failover", "give_up"]
KeyAction = Literal["none", "cool", "take_out"]

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
KEY_REJECTED = frozenset({401, 403})
FAILOVER_ONLY = frozenset({404})


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds on retrying one request (from Settings)."""

    max_attempts: int = 6
    """Attempts in all, across endpoints and credentials."""
    per_endpoint: int = 3
    """Attempts on one endpoint before failing over to the next."""
    backoff_s: float = 0.5
    """First backoff; doubles per retry on the same endpoint, with full jitter."""
    backoff_max_s: float = 8.0
    max_wait_s: float = 20.0
    """Longest single wait cal makes; a longer Retry-After moves on (or gives up)."""
    budget_s: float = 120.0
    """Time after which no new attempt starts."""
    default_cooldown_s: float = 30.0
    """How long a credential cools after a 429 that names no reset time."""


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one attempt came to."""

    kind: OutcomeKind
    status: int | None = None
    rate_limits: RateLimits | None = None
    client_saw_bytes: bool = False
    """True once any byte of the response reached the client: nothing can be retried then."""
    should_retry: bool | None = None
    """The provider's own advice (Anthropic's `x-should-retry`); False: not on this endpoint."""


class AttemptState(msgspec.Struct, frozen=True, kw_only=True):
    """Where the request stands when the outcome arrives."""

    attempts: int
    """Attempts made so far (including the one that just ended)."""
    on_endpoint: int
    """Attempts made on the current endpoint."""
    elapsed_s: float
    other_key_ready: bool = False
    """Another credential of this endpoint can be used now."""
    more_endpoints: bool = False
    """A further candidate endpoint exists (False when the client pinned one)."""
    pooled_key: bool = True
    """The credential is one cal owns (False: the client's own, forwarded)."""


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    action: Action
    delay_s: float = 0.0
    reason: str = ""
    key_action: KeyAction = "none"
    cool_until: float | None = None
    """For key_action "cool": when the credential may be used again (epoch seconds)."""


def backoff_s(policy: RetryPolicy, retry_number: int, rand: float) -> float:
    """Full-jitter exponential backoff for the `retry_number`-th retry (1-based)."""
    ceiling = min(policy.backoff_max_s, policy.backoff_s * 2.0 ** max(0, retry_number - 1))
    return ceiling * (0.5 + rand / 2)


def describe(outcome: Outcome) -> str:
    """A short name of the outcome for reasons: `429`, `connect error`, `timeout`…"""
    if outcome.kind == "status":
        return str(outcome.status)
    return {"connect": "connect error", "timeout": "timeout", "stream_cut": "stream cut"}.get(
        outcome.kind, outcome.kind
    )


def _cool_until(outcome: Outcome, policy: RetryPolicy, now: float) -> tuple[float, str]:
    """When the key may be used again: the latest of Retry-After and spent windows' resets."""
    limits = outcome.rate_limits
    blocked = limits.blocked_until() if limits is not None else None
    if limits is None or blocked is None or blocked <= now:
        return now + policy.default_cooldown_s, "no reset given"
    source = "Retry-After" if blocked == limits.retry_at else "rate-limit reset"
    return blocked, source


def _move_on(state: AttemptState, why: str, key_action: KeyAction = "none") -> Decision:
    if state.more_endpoints:
        return Decision(action="failover", reason=f"failover after {why}", key_action=key_action)
    return Decision(action="give_up", reason=f"gave up after {why}", key_action=key_action)


def _out_of_budget(state: AttemptState, policy: RetryPolicy) -> str | None:
    if state.attempts >= policy.max_attempts:
        return f"{state.attempts} attempts"
    if state.elapsed_s >= policy.budget_s:
        return f"the {policy.budget_s:g} s retry budget"
    return None


def _rate_limited(
    outcome: Outcome, state: AttemptState, policy: RetryPolicy, now: float
) -> Decision:
    until, source = _cool_until(outcome, policy, now)
    cool: KeyAction = "cool" if state.pooled_key else "none"
    wait = max(0.0, until - now)
    if state.other_key_ready:
        return Decision(
            action="retry",
            reason="retry after 429 with another key",
            key_action=cool,
            cool_until=until,
        )
    if (
        state.on_endpoint < policy.per_endpoint
        and wait <= policy.max_wait_s
        and wait + state.elapsed_s < policy.budget_s
    ):
        return Decision(
            action="retry",
            delay_s=wait,
            key_action=cool,
            cool_until=until,
            reason=f"retry after 429, waited {wait:.1f} s ({source})",
        )
    decision = _move_on(state, f"429 (next try in {wait:.0f} s, {source})", cool)
    return msgspec.structs.replace(decision, cool_until=until)


def decide(
    outcome: Outcome, state: AttemptState, policy: RetryPolicy, now: float, rand: float
) -> Decision:
    """The next step after `outcome` (see the module's table)."""
    if outcome.kind == "ok":
        return Decision(action="done")
    what = describe(outcome)
    if outcome.client_saw_bytes:
        return Decision(action="give_up", reason=f"{what} after the response started")
    if (spent := _out_of_budget(state, policy)) is not None:
        return Decision(action="give_up", reason=f"gave up after {what}: {spent} spent")
    status = outcome.status if outcome.kind == "status" else None
    if status is None or status in RETRYABLE_STATUSES:
        if outcome.should_retry is False:
            return _move_on(state, f"{what} (the upstream says not to retry)")
        if status == 429:
            return _rate_limited(outcome, state, policy, now)
        if state.on_endpoint >= policy.per_endpoint:
            return _move_on(state, f"{what} ({state.on_endpoint} tries on this endpoint)")
        delay = backoff_s(policy, state.on_endpoint, rand)
        if state.elapsed_s + delay >= policy.budget_s:
            return _move_on(state, f"{what} (no time left to wait)")
        return Decision(
            action="retry", delay_s=delay, reason=f"retry after {what}, waited {delay:.1f} s"
        )
    if status in KEY_REJECTED and state.pooled_key:
        if state.other_key_ready:
            return Decision(
                action="retry", key_action="take_out", reason=f"retry after {what} with another key"
            )
        return _move_on(state, f"{what} (no other key)", "take_out")
    if status in FAILOVER_ONLY:
        return _move_on(state, what)
    return Decision(action="give_up", reason=f"{what} is not retried")
