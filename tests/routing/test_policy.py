"""The retry/failover policy as a pure function: outcomes in, decisions out (no clock, no dice)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cal.routing.policy import (
    RETRYABLE_STATUSES,
    AttemptState,
    Outcome,
    RetryPolicy,
    backoff_s,
    decide,
)
from cal.routing.ratelimit import RateLimits, Window

NOW = 1_800_000_000.0
POLICY = RetryPolicy(backoff_s=1.0, backoff_max_s=8.0, max_wait_s=20.0, budget_s=60.0)


def _state(**fields: object) -> AttemptState:
    values: dict[str, object] = {"attempts": 1, "on_endpoint": 1, "elapsed_s": 0.0}
    values.update(fields)
    return AttemptState(**values)  # type: ignore[arg-type]


def _status(status: int, limits: RateLimits | None = None) -> Outcome:
    return Outcome(kind="status", status=status, rate_limits=limits)


@pytest.mark.parametrize("status", sorted(RETRYABLE_STATUSES - {429}))
def test_transient_statuses_are_retried_with_backoff(status: int) -> None:
    decision = decide(_status(status), _state(), POLICY, NOW, 0.5)
    assert decision.action == "retry"
    assert decision.delay_s == pytest.approx(0.75)
    assert decision.reason == f"retry after {status}, waited 0.8 s"


@pytest.mark.parametrize("kind", ["connect", "timeout", "stream_cut"])
def test_transport_failures_before_the_first_byte_are_retried(kind: str) -> None:
    decision = decide(Outcome(kind=kind), _state(), POLICY, NOW, 0.0)  # type: ignore[arg-type]
    assert decision.action == "retry"


@pytest.mark.parametrize("status", [500, 529, 429])
def test_nothing_is_retried_once_the_client_saw_a_byte(status: int) -> None:
    outcome = Outcome(kind="stream_cut", status=status, client_saw_bytes=True)
    assert decide(outcome, _state(more_endpoints=True), POLICY, NOW, 0.0).action == "give_up"


@pytest.mark.parametrize("status", [400, 413, 422])
def test_request_errors_are_given_up(status: int) -> None:
    decision = decide(_status(status), _state(more_endpoints=True), POLICY, NOW, 0.0)
    assert (decision.action, decision.reason) == ("give_up", f"{status} is not retried")


def test_404_fails_over_but_is_not_retried() -> None:
    assert decide(_status(404), _state(more_endpoints=True), POLICY, NOW, 0).action == "failover"
    assert decide(_status(404), _state(), POLICY, NOW, 0).action == "give_up"


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key_is_taken_out_and_another_tried(status: int) -> None:
    other = decide(_status(status), _state(other_key_ready=True), POLICY, NOW, 0.0)
    assert (other.action, other.key_action) == ("retry", "take_out")
    none = decide(_status(status), _state(more_endpoints=True), POLICY, NOW, 0.0)
    assert (none.action, none.key_action) == ("failover", "take_out")
    client = decide(_status(status), _state(pooled_key=False), POLICY, NOW, 0.0)
    assert (client.action, client.key_action) == ("give_up", "none")


def test_429_waits_out_a_short_retry_after_and_cools_the_key() -> None:
    limits = RateLimits(observed_at=NOW, retry_after_s=2.0, retry_at=NOW + 2)
    decision = decide(_status(429, limits), _state(), POLICY, NOW, 0.9)
    assert (decision.action, decision.delay_s) == ("retry", 2.0)
    assert decision.reason == "retry after 429, waited 2.0 s (Retry-After)"
    assert (decision.key_action, decision.cool_until) == ("cool", NOW + 2)


def test_429_moves_to_another_key_at_once() -> None:
    limits = RateLimits(observed_at=NOW, retry_after_s=2.0, retry_at=NOW + 2)
    decision = decide(_status(429, limits), _state(other_key_ready=True), POLICY, NOW, 0.0)
    assert (decision.action, decision.delay_s, decision.key_action) == ("retry", 0.0, "cool")


def test_429_with_a_far_reset_fails_over_or_gives_up() -> None:
    window = Window(limit=50, remaining=0, reset_at=NOW + 300)
    limits = RateLimits(observed_at=NOW, windows={"requests": window})
    failover = decide(_status(429, limits), _state(more_endpoints=True), POLICY, NOW, 0.0)
    assert failover.action == "failover"
    assert failover.cool_until == NOW + 300
    assert "rate-limit reset" in failover.reason
    assert decide(_status(429, limits), _state(), POLICY, NOW, 0.0).action == "give_up"


def test_429_without_any_reset_cools_for_the_default() -> None:
    decision = decide(_status(429), _state(more_endpoints=True), POLICY, NOW, 0.0)
    assert decision.cool_until == NOW + POLICY.default_cooldown_s


def test_the_forwarded_client_credential_is_never_cooled() -> None:
    decision = decide(_status(429), _state(pooled_key=False), POLICY, NOW, 0.0)
    assert decision.key_action == "none"


def test_tries_per_endpoint_then_failover() -> None:
    state = _state(attempts=3, on_endpoint=3, more_endpoints=True)
    decision = decide(_status(503), state, POLICY, NOW, 0.0)
    assert (decision.action, decision.reason) == (
        "failover",
        "failover after 503 (3 tries on this endpoint)",
    )


def test_attempt_and_time_budgets_end_the_request() -> None:
    spent = decide(_status(503), _state(attempts=6, more_endpoints=True), POLICY, NOW, 0.0)
    assert (spent.action, spent.reason) == ("give_up", "gave up after 503: 6 attempts spent")
    late = decide(_status(503), _state(elapsed_s=61.0), POLICY, NOW, 0.0)
    assert late.action == "give_up"


def test_ok_is_done() -> None:
    assert decide(Outcome(kind="ok"), _state(), POLICY, NOW, 0.0).action == "done"


@given(st.integers(1, 30), st.floats(0.0, 0.999))
def test_backoff_grows_is_bounded_and_jittered(retry: int, rand: float) -> None:
    delay = backoff_s(POLICY, retry, rand)
    ceiling = min(POLICY.backoff_max_s, POLICY.backoff_s * 2.0 ** (retry - 1))
    assert ceiling / 2 <= delay <= ceiling
    assert backoff_s(POLICY, retry + 1, rand) >= delay


@given(
    status=st.integers(400, 599),
    attempts=st.integers(1, 10),
    on_endpoint=st.integers(1, 5),
    elapsed=st.floats(0, 200),
    other=st.booleans(),
    more=st.booleans(),
    rand=st.floats(0, 0.999),
    retry_after=st.none() | st.floats(0, 1000),
)
def test_every_decision_is_bounded(
    status: int,
    attempts: int,
    on_endpoint: int,
    elapsed: float,
    other: bool,
    more: bool,
    rand: float,
    retry_after: float | None,
) -> None:
    limits = None
    if retry_after is not None:
        limits = RateLimits(observed_at=NOW, retry_after_s=retry_after, retry_at=NOW + retry_after)
    state = _state(
        attempts=attempts,
        on_endpoint=on_endpoint,
        elapsed_s=elapsed,
        other_key_ready=other,
        more_endpoints=more,
    )
    decision = decide(_status(status, limits), state, POLICY, NOW, rand)
    assert decision.action in ("retry", "failover", "give_up")
    assert 0 <= decision.delay_s <= POLICY.max_wait_s
    if decision.action == "retry":
        assert attempts < POLICY.max_attempts
        assert elapsed + decision.delay_s < POLICY.budget_s
        assert status in RETRYABLE_STATUSES or status in (401, 403)
    if decision.action == "failover":
        assert more
    assert decision.reason


def test_a_spent_window_outlasting_retry_after_wins() -> None:
    window = Window(status="rejected", reset_at=NOW + 3600)
    limits = RateLimits(
        observed_at=NOW, windows={"unified-5h": window}, retry_after_s=1.0, retry_at=NOW + 1
    )
    decision = decide(_status(429, limits), _state(more_endpoints=True), POLICY, NOW, 0.0)
    assert (decision.action, decision.cool_until) == ("failover", NOW + 3600)


def test_the_providers_advice_not_to_retry_moves_on() -> None:
    outcome = Outcome(kind="status", status=529, should_retry=False)
    decision = decide(outcome, _state(more_endpoints=True), POLICY, NOW, 0.0)
    assert (decision.action, decision.reason) == (
        "failover",
        "failover after 529 (the upstream says not to retry)",
    )
    advised = Outcome(kind="status", status=529, should_retry=True)
    assert decide(advised, _state(), POLICY, NOW, 0.0).action == "retry"
