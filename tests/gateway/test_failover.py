"""Retries and failover through the real gateway in front of the real mock provider's faults.

Each test asserts what the client received, which attempts were made, and what was recorded.
The mock applies a header fault to every endpoint (they are all the same mock), so faults meant
for one endpoint ride on its model map (`"*": "m+status=503"`: the mock reads the suffix).
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from cal.config import Settings

BODY = b'{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
STREAM_BODY = (
    b'{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
)
KEY1, KEY2 = "sk-test-first-key-0000000001", "sk-test-second-key-000000002"


@pytest.fixture
def harness_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(
        dump_enabled=False,
        retry_backoff_s=0.01,
        retry_backoff_max_s=0.05,
        retry_max_wait_s=2.0,
        first_byte_timeout_s=5.0,
    )


def _fault(spec: str) -> dict[str, str]:
    """A fault for this test only (`fail-first` counts per X-Mock-Key)."""
    return {"x-mock-fault": spec, "x-mock-key": uuid.uuid4().hex}


async def _post(harness: Any, body: bytes = BODY, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(harness.url + "/v1/messages", content=body, headers=headers)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_429_with_retry_after_is_waited_out_then_served(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic", api_key=KEY1))
    with trio.fail_after(15):
        response = await _post(harness, **_fault("fail-first=1,status=429"))
    assert response.status_code == 200
    assert response.json()["type"] == "message"
    exchange = (await harness.sink.wait_for(1))[-1]
    first, second = exchange.attempts
    assert (first.status, second.status) == (429, 200)
    assert first.credential_id == second.credential_id == "cred-1"
    assert second.reason == "retry after 429, waited 1.0 s (Retry-After)"
    assert second.started_ms - first.started_ms >= 900
    assert exchange.status == 200 and exchange.error is None


async def test_429_without_retry_after_cools_the_key_until_the_reset(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic", api_key=KEY1))
    with trio.fail_after(15):
        limited = await _post(harness, **{"x-mock-fault": "status=429-no-retry-after"})
        received = len(harness.mock.provider.received)
        again = await _post(harness)
    # the provider's reset (60 s) is longer than cal waits: the client gets the upstream's 429
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    # the next call is answered at once by cal, without asking the upstream
    assert again.status_code == 429
    assert 55 <= int(again.headers["retry-after"]) <= 60
    assert "cooling down" in again.json()["error"]["message"]
    assert len(harness.mock.provider.received) == received
    first, second = await harness.sink.wait_for(2)
    assert [a.status for a in first.attempts] == [429]
    assert first.notes and "gave up after 429" in first.notes[-1]
    assert second.attempts == []
    state = harness.runtime.status()["routing"]["mock-anthropic"]
    cred = state["credentials"]["cred-1"]
    assert cred["ready"] is False and cred["key"] == "sk-t…0001"
    assert KEY1 not in str(harness.runtime.status())
    windows = state["rate_limits"]["cred-1"]["windows"]
    assert windows["requests"]["remaining"] == 0
    assert windows["unified-5h"]["status"] == "rejected"


async def test_529_is_retried_with_backoff(harness: Any) -> None:
    with trio.fail_after(15):
        response = await _post(harness, **_fault("fail-first=2,status=529"))
    assert response.status_code == 200
    exchange = (await harness.sink.wait_for(1))[-1]
    assert [a.status for a in exchange.attempts] == [529, 529, 200]
    assert exchange.attempts[1].reason is not None
    assert exchange.attempts[1].reason.startswith("retry after 529, waited")
    assert exchange.attempts[0].error is not None
    assert exchange.attempts[0].error.kind == "upstream_status"


async def test_500_spends_the_endpoints_tries_then_fails_over(harness: Any) -> None:
    broken = harness.endpoint("anthropic", name="broken", model_map={"*": "m+status=500"})
    harness.use(broken, harness.endpoint("anthropic", name="good", priority=200))
    with trio.fail_after(15):
        response = await _post(harness)
    assert response.status_code == 200
    exchange = (await harness.sink.wait_for(1))[-1]
    assert [(a.endpoint, a.status) for a in exchange.attempts] == [
        ("broken", 500),
        ("broken", 500),
        ("broken", 500),
        ("good", 200),
    ]
    assert exchange.attempts[3].reason == "failover after 500 (3 tries on this endpoint)"
    assert exchange.endpoint == "good"


async def test_a_lasting_500_reaches_the_client_after_the_last_try(harness: Any) -> None:
    with trio.fail_after(15):
        response = await _post(harness, **{"x-mock-fault": "status=500"})
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "api_error"
    exchange = (await harness.sink.wait_for(1))[-1]
    assert len(exchange.attempts) == 3
    assert exchange.error is not None and exchange.error.status == 500


async def test_400_is_not_retried(harness: Any) -> None:
    with trio.fail_after(15):
        response = await _post(harness, **{"x-mock-fault": "status=400"})
    assert response.status_code == 400
    exchange = (await harness.sink.wait_for(1))[-1]
    assert len(exchange.attempts) == 1
    assert exchange.notes[-1] == "400 is not retried"


async def test_connection_refused_fails_over(harness: Any) -> None:
    dead = harness.endpoint("anthropic", name="dead")
    dead = type(dead)(name="dead", url=f"http://127.0.0.1:{_closed_port()}", format="anthropic")
    harness.use(dead, harness.endpoint("anthropic", name="alive", priority=200))
    with trio.fail_after(15):
        response = await _post(harness)
    assert response.status_code == 200
    exchange = (await harness.sink.wait_for(1))[-1]
    kinds = [(a.endpoint, a.error.kind if a.error else a.status) for a in exchange.attempts]
    assert kinds == [("dead", "connect")] * 3 + [("alive", 200)]


async def test_a_stall_before_the_first_byte_times_out_per_endpoint_and_fails_over(
    harness: Any,
) -> None:
    slow = harness.endpoint(
        "anthropic", name="slow", model_map={"*": "m+delay-ms=3000"}, first_byte_timeout_s=0.3
    )
    harness.use(slow, harness.endpoint("anthropic", name="quick", priority=200))
    with trio.fail_after(15):
        response = await _post(harness, body=STREAM_BODY)
    assert response.status_code == 200
    assert b"message_stop" in response.content
    exchange = (await harness.sink.wait_for(1))[-1]
    errors = [a.error.kind for a in exchange.attempts if a.error]
    assert errors == ["timeout"] * 3
    assert exchange.attempts[-1].endpoint == "quick"
    assert all(a.duration_ms is not None and a.duration_ms < 1500 for a in exchange.attempts)


async def test_stream_is_retried_before_its_first_byte(harness: Any) -> None:
    with trio.fail_after(15):
        response = await _post(harness, body=STREAM_BODY, **_fault("fail-first=1,status=503"))
    assert response.status_code == 200
    assert response.content.startswith(b"event: message_start")
    assert response.content.count(b"event: message_start") == 1
    exchange = (await harness.sink.wait_for(1))[-1]
    assert [a.status for a in exchange.attempts] == [503, 200]
    assert b"message_stop" in exchange.raw_events[-1].data


@pytest.mark.parametrize("stream", [False, True])
async def test_failover_across_formats(harness: Any, stream: bool) -> None:
    chat = harness.endpoint("openai-chat", model_map={"*": "m+status=503+fail-first=3"})
    harness.use(chat, harness.endpoint("gemini", priority=200))
    with trio.fail_after(15):
        response = await _post(harness, body=STREAM_BODY if stream else BODY)
    assert response.status_code == 200
    if stream:
        assert response.content.startswith(b"event: message_start")
        assert b"event: message_stop" in response.content
    else:
        assert response.json()["type"] == "message"
        assert "Hello from the cal mock provider" in response.json()["content"][0]["text"]
    exchange = (await harness.sink.wait_for(1))[-1]
    assert [(a.upstream_format, a.status) for a in exchange.attempts] == [
        ("openai-chat", 503),
        ("openai-chat", 503),
        ("openai-chat", 503),
        ("gemini", 200),
    ]
    assert exchange.route == "anthropic->gemini"
    assert exchange.transform_output is not None and b'"contents"' in exchange.transform_output
    assert exchange.attempts[0].request_body is not None
    assert b'"messages"' in exchange.attempts[0].request_body  # the Chat body of the first try
    assert exchange.usage.source == "upstream"
    paths = [r.path for r in harness.mock.provider.received]
    assert paths[:3] == ["/v1/chat/completions"] * 3
    assert paths[3].startswith("/v1beta/models/m:")


async def test_the_last_error_is_translated_to_the_clients_shape(harness: Any) -> None:
    harness.use(harness.endpoint("gemini", model_map={"*": "m+status=503"}))
    with trio.fail_after(15):
        response = await _post(harness)
    assert response.status_code == 529  # Gemini's 503 UNAVAILABLE is Anthropic's overloaded
    assert response.json()["error"]["type"] == "overloaded_error"
    exchange = (await harness.sink.wait_for(1))[-1]
    assert len(exchange.attempts) == 3


async def test_every_endpoint_cooling_down_answers_at_once(harness: Any) -> None:
    limited = "m+status=429-no-retry-after"
    first = harness.endpoint("anthropic", name="a", api_key=KEY1, model_map={"*": limited})
    second = harness.endpoint("openai-chat", name="b", api_key=KEY2, model_map={"*": limited})
    harness.use(first, second)
    with trio.fail_after(15):
        upstream_429 = await _post(harness)
        started = trio.current_time()
        immediate = await _post(harness)
        took = trio.current_time() - started
    assert upstream_429.status_code == 429
    assert immediate.status_code == 429
    assert took < 1.0
    assert 55 <= int(immediate.headers["retry-after"]) <= 60
    assert immediate.json()["error"]["type"] == "rate_limit_error"
    one, two = await harness.sink.wait_for(2)
    assert [(a.endpoint, a.status) for a in one.attempts] == [("a", 429), ("b", 429)]
    assert two.attempts == [] and two.status == 429


async def test_401_takes_the_key_out_and_the_next_key_serves(harness: Any) -> None:
    pool = harness.endpoint("anthropic", api_key=KEY1, extra_api_keys=(KEY2,))
    harness.use(pool)
    with trio.fail_after(15):
        first = await _post(harness, **_fault("fail-first=1,status=401"))
        second = await _post(harness)
    assert first.status_code == second.status_code == 200
    one, two = await harness.sink.wait_for(2)
    assert [(a.credential_id, a.status) for a in one.attempts] == [("cred-1", 401), ("cred-2", 200)]
    assert one.attempts[1].reason == "retry after 401 with another key"
    assert [a.credential_id for a in two.attempts] == ["cred-2"]
    sent = [r.header("x-api-key") for r in harness.mock.provider.received]
    assert sent == [KEY1, KEY2, KEY2]
    cred = harness.runtime.status()["routing"]["mock-anthropic"]["credentials"]
    assert cred["cred-1"]["taken_out"] == "the upstream answered 401"
    assert cred["cred-2"]["requests"] == 2 and cred["cred-2"]["output_tokens"] > 0
    assert KEY1 not in str(one.attempts[1].reason)


async def test_every_key_rejected_is_a_503(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic", api_key=KEY1, extra_api_keys=(KEY2,)))
    with trio.fail_after(15):
        rejected = await _post(harness, **{"x-mock-fault": "status=403"})
        after = await _post(harness)
    assert rejected.status_code == 403
    assert after.status_code == 503
    assert "no usable credential" in after.json()["error"]["message"]


async def test_keys_are_used_least_recently_first(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic", api_key=KEY1, extra_api_keys=(KEY2,)))
    with trio.fail_after(15):
        for _ in range(4):
            assert (await _post(harness)).status_code == 200
    sent = [r.header("x-api-key") for r in harness.mock.provider.received]
    assert sent == [KEY1, KEY2, KEY1, KEY2]


async def test_per_endpoint_idle_timeout_ends_a_stalled_stream_in_band(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic", idle_timeout_s=0.3))
    headers = {"x-mock-interval-ms": "1500", "x-mock-chunks": "4"}
    started = trio.current_time()
    with trio.fail_after(15):
        response = await _post(harness, body=STREAM_BODY, **headers)
    assert trio.current_time() - started < 1.4
    assert response.status_code == 200
    assert b"event: error" in response.content
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is not None and exchange.error.kind == "timeout"
    assert len(exchange.attempts) == 1  # bytes reached the client: never retried


async def test_per_endpoint_total_timeout_bounds_an_attempt(harness: Any) -> None:
    slow = harness.endpoint("anthropic", name="slow", total_timeout_s=0.3)
    harness.use(slow)
    with trio.fail_after(15):
        response = await _post(harness, **{"x-mock-fault": "delay-ms=2000"})
    assert response.status_code == 504
    exchange = (await harness.sink.wait_for(1))[-1]
    assert [a.error.kind for a in exchange.attempts if a.error] == ["timeout"] * 3
    assert "longer than 0.3 s" in exchange.attempts[0].error.message  # type: ignore[union-attr]
