"""Rate-limit headers of Anthropic, OpenAI and Retry-After, parsed with an injected `now`."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cal.routing.ratelimit import (
    parse_duration,
    parse_rate_limits,
    parse_retry_after,
    parse_timestamp,
    retry_delay_from_body,
    with_retry_after,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5)],
)
def test_openai_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "1s junk"])
def test_bad_durations(text: str) -> None:
    assert parse_duration(text) is None


@given(st.integers(0, 48), st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
def test_duration_round_trip(h: int, m: int, s: int, ms: int) -> None:
    text = (f"{h}h" if h else "") + f"{m}m{s}s" + (f"{ms}ms" if ms else "")
    assert parse_duration(text) == pytest.approx(h * 3600 + m * 60 + s + ms / 1000)


def test_timestamps() -> None:
    assert parse_timestamp("2027-01-15T08:00:00Z") == 1800000000.0
    assert parse_timestamp("1800000000") == 1800000000.0
    assert parse_timestamp("not a time") is None


def test_retry_after_forms() -> None:
    assert parse_retry_after([("retry-after", "7")], NOW) == 7.0
    assert parse_retry_after([("retry-after-ms", "1500"), ("retry-after", "7")], NOW) == 1.5
    date = "Fri, 15 Jan 2027 08:00:30 GMT"
    assert parse_retry_after([("Retry-After", date)], NOW) == pytest.approx(30.0)
    assert parse_retry_after([("retry-after", "garbage")], NOW) is None
    assert parse_retry_after([], NOW) is None


def test_anthropic_headers_with_unified_windows() -> None:
    headers = [
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "0"),
        ("anthropic-ratelimit-requests-reset", "2027-01-15T08:00:20Z"),
        ("anthropic-ratelimit-input-tokens-limit", "40000"),
        ("anthropic-ratelimit-input-tokens-remaining", "39000"),
        ("anthropic-ratelimit-unified-status", "allowed_warning"),
        ("anthropic-ratelimit-unified-reset", str(int(NOW + 600))),
        ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
        ("anthropic-ratelimit-unified-5h-status", "allowed"),
        ("anthropic-ratelimit-unified-5h-utilization", "0.42"),
        ("anthropic-ratelimit-unified-7d-status", "rejected"),
        ("anthropic-ratelimit-unified-7d-reset", str(int(NOW + 86400))),
    ]
    limits = parse_rate_limits(headers, NOW)
    assert limits is not None
    requests = limits.windows["requests"]
    assert (requests.limit, requests.remaining, requests.reset_at) == (50, 0, NOW + 20)
    assert limits.windows["input-tokens"].remaining == 39000
    assert limits.windows["unified"].status == "allowed_warning"
    assert limits.windows["unified-5h"].utilization == 0.42
    assert limits.windows["unified-7d"].exhausted
    assert limits.representative_claim == "five_hour"
    assert limits.blocked_until() == NOW + 86400  # the latest reset of the spent windows


def test_openai_headers() -> None:
    headers = [
        ("x-ratelimit-limit-requests", "500"),
        ("x-ratelimit-remaining-requests", "499"),
        ("x-ratelimit-reset-requests", "120ms"),
        ("x-ratelimit-limit-tokens", "30000"),
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]
    limits = parse_rate_limits(headers, NOW)
    assert limits is not None
    assert limits.windows["requests"].reset_at == pytest.approx(NOW + 0.12)
    assert limits.windows["tokens"].exhausted
    assert limits.blocked_until() == NOW + 360


def test_retry_after_alone_and_nothing_at_all() -> None:
    limits = parse_rate_limits([("retry-after", "3")], NOW)
    assert limits is not None
    assert (limits.retry_after_s, limits.blocked_until()) == (3.0, NOW + 3)
    assert parse_rate_limits([("content-type", "application/json")], NOW) is None


def test_headers_with_room_left_do_not_block() -> None:
    limits = parse_rate_limits([("x-ratelimit-remaining-requests", "10")], NOW)
    assert limits is not None and limits.blocked_until() is None


def test_gemini_retry_info_in_the_body() -> None:
    body = (
        b'{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":'
        b'"type.googleapis.com/google.rpc.QuotaFailure"},{"@type":'
        b'"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}'
    )
    assert retry_delay_from_body(body) == 12.0
    assert retry_delay_from_body(b'{"error":{"code":429}}') is None
    assert retry_delay_from_body(b"not json") is None
    limits = with_retry_after(None, 12.0, NOW)
    assert (limits.retry_after_s, limits.blocked_until()) == (12.0, NOW + 12)
    kept = with_retry_after(parse_rate_limits([("retry-after", "3")], NOW), 12.0, NOW)
    assert kept.retry_after_s == 3.0
