"""Failovers are logged (the runtime's logs go to stderr and, when configured, over OTLP)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import trio

from cal.routing.model import Endpoint


async def test_a_failover_is_logged(harness: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cal.gateway.failover")
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    harness.use(
        Endpoint("dead", f"http://127.0.0.1:{dead_port}", "anthropic", priority=1),
        harness.endpoint("anthropic", priority=2),
    )
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(harness.url + "/v1/messages", json=body)
    assert response.status_code == 200
    failovers = [r.getMessage() for r in caplog.records if "failover" in r.getMessage()]
    assert failovers
    assert "dead" in failovers[0]
