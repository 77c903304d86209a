"""RouteHealth: the runtime's credential pools and rate-limit state, on an injected clock."""

from __future__ import annotations

import pytest

from cal.gateway.health import RouteHealth, endpoint_keys
from cal.routing.model import Endpoint

KEYS = ("sk-health-key-one-00000000001", "sk-health-key-two-00000000002")
POOL = Endpoint("pool", "http://p", "openai-chat", api_key=KEYS[0], extra_api_keys=KEYS[1:])


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_keys_come_from_the_pool_or_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    assert endpoint_keys(POOL) == list(KEYS)
    monkeypatch.setenv("CAL_TEST_HEALTH_KEY", "sk-from-env")
    assert endpoint_keys(
        Endpoint("e", "http://e", "gemini", api_key_env="CAL_TEST_HEALTH_KEY")
    ) == ["sk-from-env"]
    assert endpoint_keys(Endpoint("c", "http://c", "gemini")) == []


def test_a_spent_window_cools_the_key_until_its_reset() -> None:
    clock = Clock()
    health = RouteHealth(clock)
    first = health.pick(POOL)
    assert first is not None and (first.id, first.key) == ("cred-1", KEYS[0])
    health.observe(
        "pool",
        "cred-1",
        [("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", "30s")],
    )
    picked = health.pick(POOL)
    assert picked is not None and picked.id == "cred-2"
    health.observe(
        "pool",
        "cred-2",
        [("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-reset-tokens", "10s")],
    )
    assert health.pick(POOL) is None
    assert health.retry_at(POOL) == clock.now + 10
    clock.now += 10
    again = health.pick(POOL)
    assert again is not None and again.id == "cred-2"


def test_the_clients_own_credential_is_never_cooled() -> None:
    health = RouteHealth(Clock())
    open_endpoint = Endpoint("open", "http://o", "anthropic")
    health.observe("open", "client", [("retry-after", "60")])
    chosen = health.pick(open_endpoint)
    assert chosen is not None and (chosen.id, chosen.key) == ("client", None)


def test_new_keys_forget_the_old_health() -> None:
    health = RouteHealth(Clock())
    health.pick(POOL)
    health.book.take_out("pool", "cred-1", "401")
    health.book.take_out("pool", "cred-2", "401")
    assert health.pick(POOL) is None
    replaced = Endpoint("pool", "http://p", "openai-chat", api_key="sk-a-brand-new-key-000003")
    chosen = health.pick(replaced)
    assert chosen is not None and chosen.id == "cred-1"


def test_status_masks_keys_and_reports_windows() -> None:
    health = RouteHealth(Clock())
    health.observe(
        "pool",
        "cred-1",
        [("x-ratelimit-limit-requests", "500"), ("x-ratelimit-remaining-requests", "499")],
    )
    status = health.status([POOL])["pool"]
    assert status["credentials"]["cred-1"]["key"] == "sk-h…0001"
    assert status["credentials"]["cred-2"] == {"ready": True, "requests": 0, "key": "sk-h…0002"}
    assert status["rate_limits"]["cred-1"]["windows"]["requests"] == {
        "limit": 500,
        "remaining": 499,
    }
    assert not any(key in str(status) for key in KEYS)
