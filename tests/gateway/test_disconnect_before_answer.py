"""A client that leaves while the upstream has not answered yet: the gateway lets go at once
(tests/gateway/test_failures.py covers a client leaving mid-stream)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio

from cal.config import Settings

BODY = b'{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture
def harness_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(dump_enabled=False, first_byte_timeout_s=60.0)


async def test_leaving_before_the_upstream_answers_cancels_the_call(harness: Any) -> None:
    with trio.fail_after(15):
        async with httpx.AsyncClient(timeout=20) as client:
            with trio.move_on_after(0.3):  # the mock holds its answer for 10 s
                await client.post(
                    harness.url + "/v1/messages",
                    content=BODY,
                    headers={"x-mock-fault": "delay-ms=10000"},
                )
        gone_at = trio.current_time()
        exchange = (await harness.sink.wait_for(1))[-1]
    assert trio.current_time() - gone_at < 3
    assert exchange.error is not None
    assert exchange.error.kind == "client_disconnected"
    assert exchange.status is None
    assert len(exchange.attempts) == 1
