"""A client that leaves while the upstream has not answered yet, or while the gateway waits to
try again: the gateway lets go at once (tests/gateway/test_failures.py covers a client leaving
mid-stream)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from cal.capture.model import Exchange
from cal.config import Settings

BODY = b'{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture
def harness_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(dump_enabled=False, first_byte_timeout_s=60.0, retry_backoff_s=5.0)


async def test_leaving_before_the_upstream_answers_cancels_the_call(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    exchange = await _leave_after(harness, 0.3, "delay-ms=10000")  # held for 10 s
    assert exchange.error is not None
    assert exchange.error.kind == "client_disconnected"
    assert exchange.status is None
    assert len(exchange.attempts) == 1
    assert not _errors_logged(caplog)  # a client leaving is no fault of anyone's


async def test_leaving_during_a_retry_backoff_ends_the_exchange(
    harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 529 makes the gateway wait (a backoff of seconds here) before it tries again: a client
    that leaves meanwhile is noticed during the wait, and no second attempt is made."""
    exchange = await _leave_after(harness, 0.5, "status=529")
    assert exchange.error is not None
    assert exchange.error.kind == "client_disconnected"
    assert len(exchange.attempts) == 1
    assert exchange.attempts[0].status == 529
    assert not _errors_logged(caplog)


async def _leave_after(harness: Any, seconds: float, fault: str) -> Exchange:
    """Send a stream request with the mock's `fault`, leave after `seconds`, and return the
    recorded exchange once it ends (within 3 s of the client's leaving)."""
    with trio.fail_after(15):
        async with httpx.AsyncClient(timeout=20) as client:
            with trio.move_on_after(seconds):
                await client.post(
                    harness.url + "/v1/messages", content=BODY, headers={"x-mock-fault": fault}
                )
        gone_at = trio.current_time()
        exchange: Exchange = (await harness.sink.wait_for(1))[-1]
    assert trio.current_time() - gone_at < 3
    return exchange


def _errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
