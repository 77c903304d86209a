"""Shared test setup: a clean environment per test and a settings factory."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

from cal import config

if TYPE_CHECKING:
    from cal.routing.model import Endpoint
    from cal.runtime import Runtime

_CLEARED_PREFIXES = ("CODE_AGENT_LENS_", "OTEL_")
_CLEARED = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's cal, OpenTelemetry or proxy settings."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., config.Settings]:
    """`make_settings(**overrides)`: settings on free ports with a data dir under tmp_path."""

    def make(**overrides: Any) -> config.Settings:
        base: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "gateway_port": 0,
            "portal_port": 0,
            "shutdown_grace_s": 1.0,
        }
        base.update(overrides)
        return config.load(base, environ={})

    return make


Drive = Callable[["Runtime"], Awaitable[None]]
EndpointsFor = Callable[[dict[str, str]], "list[Endpoint]"]


@pytest.fixture
def run_against_mock() -> Callable[..., Awaitable[None]]:
    """`await run_against_mock(runtime, drive, endpoints=…, limit_s=…)`: run `runtime` (listening
    on its ports) in front of a real mock provider until `drive(runtime)` returns, then stop both.

    `endpoints(base_urls)` gives the endpoints from the mock's base URL per format (default: one
    Anthropic endpoint named `mock`).
    """
    from cal.mock import MockOptions
    from cal.mock.service import MockService, base_urls
    from cal.routing.model import Endpoint
    from cal.runtime import run_runtime

    def one_anthropic(urls: dict[str, str]) -> list[Endpoint]:
        return [Endpoint(name="mock", url=urls["anthropic"], format="anthropic")]

    async def run(
        runtime: Runtime,
        drive: Drive,
        *,
        endpoints: EndpointsFor = one_anthropic,
        limit_s: float = 60.0,
    ) -> None:
        mock = MockService(MockOptions(), host="127.0.0.1", port=0)
        stop_mock, ready = trio.Event(), trio.Event()

        async def driver() -> None:
            await ready.wait()
            try:
                await drive(runtime)
            finally:
                runtime.stop.set()

        with trio.fail_after(limit_s):
            async with trio.open_nursery() as nursery:
                await nursery.start(mock.run, stop_mock)
                runtime.registry.set_stored(endpoints(base_urls(mock.url)), None)
                nursery.start_soon(driver)
                await run_runtime(
                    runtime,
                    endpoint_source=None,
                    on_ready=lambda _: ready.set(),
                    report=lambda _: None,
                )
                stop_mock.set()

    return run
