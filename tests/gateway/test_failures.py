"""Upstream stalls and client disconnects: the gateway answers or cancels, never hangs or spews."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from cal.config import Settings

BODY = b'{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture
def harness_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(dump_enabled=False, first_byte_timeout_s=0.5, idle_timeout_s=0.5)


async def test_stall_before_first_byte_is_504(harness: Any) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages", content=BODY, headers={"x-mock-fault": "delay-ms=3000"}
        )
    assert response.status_code == 504
    assert response.json()["error"]["type"] == "timeout_error"
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is not None
    assert exchange.error.kind == "timeout"


async def test_stall_mid_stream_ends_with_an_in_band_error(harness: Any) -> None:
    async with (
        httpx.AsyncClient(timeout=20) as client,
        client.stream(
            "POST",
            harness.url + "/v1/messages",
            content=BODY,
            headers={"x-mock-interval-ms": "2000", "x-mock-chunks": "4"},
        ) as response,
    ):
        text = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200
    assert b"event: error" in text
    assert b"message_stop" not in text


async def test_mid_stream_cut_gives_the_client_an_error_event(harness: Any) -> None:
    async with (
        httpx.AsyncClient(timeout=20) as client,
        client.stream(
            "POST",
            harness.url + "/v1/messages",
            content=BODY,
            headers={"x-mock-fault": "cut-after=3"},
        ) as response,
    ):
        text = b"".join([chunk async for chunk in response.aiter_raw()])
    assert b"event: error" in text
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is not None
    assert exchange.error.kind == "stream_cut"


async def test_client_disconnect_cancels_the_upstream_quietly(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    with trio.fail_after(15):
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream(
                "POST",
                harness.url + "/v1/messages",
                content=BODY,
                headers={"x-mock-interval-ms": "300", "x-mock-chunks": "40"},
            ) as response,
        ):
            async for _ in response.aiter_raw():
                break  # the first event arrived: hang up
        gone_at = trio.current_time()
        exchange = (await harness.sink.wait_for(1))[-1]
    # the whole upstream stream would take 40 × 300 ms; the gateway let go at once
    assert trio.current_time() - gone_at < 3
    assert exchange.error is not None
    assert exchange.error.kind == "client_disconnected"
    assert len(exchange.raw_events) < 10
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_an_in_band_upstream_error_is_passed_through_and_recorded(harness: Any) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages", content=BODY, headers={"x-mock-fault": "error-event"}
        )
    assert b"event: error" in response.content
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is not None
    assert exchange.error.kind == "upstream_status"
