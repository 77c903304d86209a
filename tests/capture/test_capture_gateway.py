"""Nothing lost end to end: 500 concurrent requests through the real gateway, 500 bundles and rows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import msgspec
import pytest
import trio

from cal.capture.writer import CaptureWriter
from cal.config import Settings
from cal.runtime import Runtime
from cal.store.db import Database
from cal.store.requests import RequestFilter, count_requests, list_requests

REQUESTS = 500
CONCURRENCY = 100


def _body(n: int) -> bytes:
    return msgspec.json.encode(
        {
            "model": "claude-test",
            "max_tokens": 32,
            "stream": n % 2 == 0,
            "messages": [{"role": "user", "content": f"request number {n}"}],
        }
    )


async def _send_all(url: str) -> list[int]:
    statuses: list[int] = []
    limiter = trio.CapacityLimiter(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(n: int) -> None:
            async with limiter:
                response = await client.post(
                    "/v1/messages",
                    content=_body(n),
                    headers={"x-api-key": "sk-ant-api03-" + "k" * 40, "user-agent": "bench/1"},
                )
                statuses.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for n in range(REQUESTS):
                nursery.start_soon(one, n)
    return statuses


def _bundles(settings: Settings) -> list[Path]:
    return list(settings.dump_dir.glob("runs/*/traces/*/*/prompt.index.json"))


def _index(settings: Settings) -> tuple[int, int]:
    db = Database.open(settings.db_path)
    with db.read() as conn:
        total = count_requests(conn)
        streamed = list_requests(conn, RequestFilter(text="request number 123"))[0]
    db.close()
    return total, len(streamed)


@pytest.mark.slow
async def test_500_concurrent_gateway_requests_are_all_captured(
    make_settings: Callable[..., Settings], run_against_mock: Callable[..., Awaitable[None]]
) -> None:
    settings = make_settings(shutdown_grace_s=20.0)
    runtime = Runtime(settings)
    writer = CaptureWriter(settings, current_run=runtime.run_id)
    runtime.sinks.append(writer)
    runtime.sink_services.append(writer)
    statuses: list[int] = []

    async def drive(rt: Runtime) -> None:
        statuses.extend(await _send_all(rt.listeners["gateway"]))

    await run_against_mock(runtime, drive, limit_s=120)
    assert statuses == [200] * REQUESTS
    stats = writer.statistics()
    assert (stats.written, stats.dropped, stats.failed) == (REQUESTS, 0, 0)
    assert len(_bundles(settings)) == REQUESTS
    total, found = _index(settings)
    assert total == REQUESTS and found == 1
