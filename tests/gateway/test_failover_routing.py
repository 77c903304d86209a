"""Endpoint resolution through the real gateway: pins, model maps, and a switch under load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
import trio

from cal.config import Settings

BODY = b'{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture
def harness_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(dump_enabled=False, retry_backoff_s=0.01, retry_max_wait_s=0.1)


async def _post(
    harness: Any, body: bytes = BODY, path: str = "/v1/messages", **headers: str
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(harness.url + path, content=body, headers=headers)


def _two(harness: Any, **second: Any) -> None:
    harness.use(
        harness.endpoint("anthropic", name="first", priority=10),
        harness.endpoint("anthropic", name="second", priority=20, **second),
    )


async def test_pin_by_header_is_not_forwarded(harness: Any) -> None:
    _two(harness)
    with trio.fail_after(15):
        response = await _post(harness, **{"x-cal-endpoint": "second"})
    assert response.status_code == 200
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.endpoint == "second"
    assert exchange.attempts[0].reason == "pinned"
    assert harness.mock.provider.received[-1].header("x-cal-endpoint") is None


async def test_pin_by_model_prefix_is_stripped_before_sending(harness: Any) -> None:
    _two(harness)
    body = BODY.replace(b'"m"', b'"@second/claude-x"')
    with trio.fail_after(15):
        response = await _post(harness, body)
    assert response.status_code == 200
    sent = msgspec.json.decode(harness.mock.provider.received[-1].body)
    assert sent["model"] == "claude-x"
    exchange = (await harness.sink.wait_for(1))[-1]
    assert (exchange.endpoint, exchange.model) == ("second", "claude-x")


async def test_pin_by_model_prefix_through_a_translated_route(harness: Any) -> None:
    harness.use(
        harness.endpoint("anthropic", name="first"), harness.endpoint("gemini", priority=200)
    )
    body = BODY.replace(b'"m"', b'"@mock-gemini/gem-x"')
    with trio.fail_after(15):
        response = await _post(harness, body)
    assert response.status_code == 200
    assert harness.mock.provider.received[-1].path.startswith("/v1beta/models/gem-x:")
    assert response.json()["model"] == "gem-x"


@pytest.mark.parametrize(
    ("headers", "model", "needle"),
    [
        ({"x-cal-endpoint": "nowhere"}, "m", "unknown endpoint 'nowhere' (X-CAL-Endpoint)"),
        ({}, "@nowhere/m", "unknown endpoint 'nowhere' (model prefix)"),
        ({"x-cal-endpoint": "off"}, "m", "endpoint 'off' (X-CAL-Endpoint) is disabled"),
    ],
)
async def test_a_bad_pin_is_a_400_in_the_clients_shape(
    harness: Any, headers: dict[str, str], model: str, needle: str
) -> None:
    harness.use(
        harness.endpoint("anthropic"), harness.endpoint("gemini", name="off", enabled=False)
    )
    body = BODY.replace(b'"m"', msgspec.json.encode(model))
    with trio.fail_after(15):
        response = await _post(harness, body, **headers)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"] == needle
    openai = await _post(
        harness,
        b'{"model":"m","messages":[]}',
        "/v1/chat/completions",
        **{"x-cal-endpoint": "nowhere"},
    )
    assert openai.status_code == 400 and "nowhere" in openai.json()["error"]["message"]
    assert len(harness.mock.provider.received) == 0


async def test_a_pinned_endpoint_does_not_fail_over(harness: Any) -> None:
    harness.use(
        harness.endpoint("anthropic", name="first", model_map={"*": "m+status=503"}),
        harness.endpoint("anthropic", name="second", priority=200),
    )
    with trio.fail_after(15):
        pinned = await _post(harness, **{"x-cal-endpoint": "first"})
        free = await _post(harness)
    assert pinned.status_code == 503
    assert free.status_code == 200
    one, two = await harness.sink.wait_for(2)
    assert {a.endpoint for a in one.attempts} == {"first"}
    assert [a.endpoint for a in two.attempts] == ["first", "first", "first", "second"]


async def test_a_model_map_naming_the_model_is_preferred_over_the_active_endpoint(
    harness: Any,
) -> None:
    _two(harness, model_map={"special": "mapped-special"})
    with trio.fail_after(15):
        special = await _post(harness, BODY.replace(b'"m"', b'"special"'))
        plain = await _post(harness)
    assert special.status_code == plain.status_code == 200
    one, two = await harness.sink.wait_for(2)
    assert (one.endpoint, one.attempts[0].reason) == ("second", "model map names 'special'")
    assert msgspec.json.decode(harness.mock.provider.received[0].body)["model"] == "mapped-special"
    assert two.endpoint == "first"


async def test_switching_the_active_endpoint_cuts_no_stream_in_flight(harness: Any) -> None:
    """50 streams run while the active endpoint changes: each ends cleanly, each is recorded."""
    old = harness.endpoint("anthropic", name="old")
    new = harness.endpoint("anthropic", name="new")
    harness.use(old, new, active="old")
    body = BODY.replace(b'"max_tokens":8', b'"max_tokens":64,"stream":true')
    headers = {"x-mock-interval-ms": "30", "x-mock-chunks": "10"}
    results: list[tuple[int, bytes]] = []
    started = trio.Event()

    async def stream(client: httpx.AsyncClient) -> None:
        async with client.stream(
            "POST", harness.url + "/v1/messages", content=body, headers=headers
        ) as response:
            parts = []
            async for chunk in response.aiter_raw():
                parts.append(chunk)
                started.set()
            results.append((response.status_code, b"".join(parts)))

    limits = httpx.Limits(max_connections=100)
    with trio.fail_after(30):
        async with (
            httpx.AsyncClient(timeout=30, limits=limits) as client,
            trio.open_nursery() as nursery,
        ):
            for _ in range(50):
                nursery.start_soon(stream, client)
            await started.wait()
            harness.use(old, new, active="new")
            after = await client.post(harness.url + "/v1/messages", content=BODY)
    assert after.status_code == 200
    assert len(results) == 50
    for status, text in results:
        assert status == 200
        assert text.count(b"event: message_stop") == 1
        assert b"event: error" not in text
    exchanges = await harness.sink.wait_for(51)
    streams = [x for x in exchanges if x.stream]
    assert len(streams) == 50
    assert all(x.error is None and len(x.attempts) == 1 for x in streams)
    assert "old" in {x.endpoint for x in streams}
    assert next(x for x in exchanges if not x.stream).endpoint == "new"


async def test_status_reports_rate_limits_and_credentials(harness: Any) -> None:
    harness.use(harness.endpoint("openai-chat", api_key="sk-openai-key-000000000001"))
    with trio.fail_after(15):
        await _post(harness, BODY.replace(b'"m"', b'"m+status=429"'))
    routing = harness.runtime.status()["routing"]["mock-openai-chat"]
    limits = routing["rate_limits"]["cred-1"]
    assert limits["windows"]["tokens"]["limit"] == 30000
    assert limits["retry_after_s"] == 1.0
    cred = routing["credentials"]["cred-1"]
    assert cred["errors"] >= 1 and cred["cooling_reason"]
    assert "sk-openai-key-000000000001" not in str(harness.runtime.status())
    async with httpx.AsyncClient(timeout=10) as client:
        served = await client.get(harness.portal + "/api/status")
    assert served.status_code == 200
    assert (
        served.json()["routing"]["mock-openai-chat"]["credentials"]["cred-1"]["key"] == "sk-o…0001"
    )
