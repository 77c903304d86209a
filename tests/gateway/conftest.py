"""A real gateway (cal/http1 on port 0) in front of the real mock provider, for gateway tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio

from cal.capture.model import Exchange
from cal.config import Settings
from cal.mock import MockOptions
from cal.mock.service import MockService
from cal.routing.model import Endpoint
from cal.runtime import Runtime, run_runtime


class RecordingSink:
    """Keeps every finished exchange (the capture writer's place in these tests)."""

    name = "recording"

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.arrived = trio.Event()

    def submit_nowait(self, exchange: Exchange) -> bool:
        self.exchanges.append(exchange)
        self.arrived.set()
        return True

    async def wait_for(self, count: int) -> list[Exchange]:
        with trio.fail_after(10):
            while len(self.exchanges) < count:
                self.arrived = trio.Event()
                await self.arrived.wait()
        return self.exchanges


class Harness:
    def __init__(self, runtime: Runtime, mock: MockService, sink: RecordingSink) -> None:
        self.runtime, self.mock, self.sink = runtime, mock, sink

    @property
    def url(self) -> str:
        return self.runtime.listeners["gateway"]

    @property
    def portal(self) -> str:
        return self.runtime.listeners["portal"]

    def endpoint(self, fmt: str = "anthropic", **fields: Any) -> Endpoint:
        """An endpoint of `fmt` on the mock, as its SDK's base URL would be."""
        base = self.mock.url + ("/v1" if fmt.startswith("openai") else "")
        return Endpoint(name=fields.pop("name", f"mock-{fmt}"), url=base, format=fmt, **fields)  # type: ignore[arg-type]

    def use(self, *endpoints: Endpoint, active: str | None = None) -> None:
        self.runtime.registry.set_stored(list(endpoints), active)


@pytest.fixture
def harness_settings(make_settings: Callable[..., Settings]) -> Settings:
    """The gateway's settings; a test module overrides this fixture to change them.

    Retries wait briefly: an upstream error a test provokes reaches the client within a second.
    """
    return make_settings(dump_enabled=False, retry_backoff_s=0.01, retry_max_wait_s=0.1)


@pytest.fixture
async def harness(nursery: trio.Nursery, harness_settings: Settings) -> AsyncIterator[Harness]:
    settings = harness_settings
    mock = MockService(MockOptions(), host="127.0.0.1", port=0)
    stop_mock = trio.Event()
    await nursery.start(mock.run, stop_mock)
    runtime = Runtime(settings)
    sink = RecordingSink()
    runtime.sinks.append(sink)
    ready = trio.Event()
    done = trio.Event()

    async def run() -> None:
        try:
            await run_runtime(
                runtime, endpoint_source=None, on_ready=lambda _: ready.set(), report=lambda _: None
            )
        finally:
            done.set()

    nursery.start_soon(run)
    with trio.fail_after(10):
        await ready.wait()
    h = Harness(runtime, mock, sink)
    h.use(h.endpoint("anthropic"))
    yield h
    runtime.stop.set()
    stop_mock.set()
    with trio.fail_after(10):
        await done.wait()
