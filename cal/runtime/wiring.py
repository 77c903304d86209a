"""Which services a runtime runs, built from its settings: sinks, endpoint source, --demo mock."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio

from cal.capture.model import Exchange
from cal.gateway.registry import EndpointWatcher
from cal.routing.model import Endpoint
from cal.runtime import Runtime
from cal.service import Service

if TYPE_CHECKING:
    from cal.capture.writer import CaptureWriter
    from cal.telemetry.hub import Telemetry

log = logging.getLogger(__name__)

DEMO_ENDPOINT = "demo-mock"


async def prepare(runtime: Runtime) -> EndpointWatcher:
    """Open the store and attach the sinks; returns the endpoint watcher service."""
    from cal.store.store import open_store

    store = await trio.to_thread.run_sync(open_store, runtime.settings)
    runtime.closers.append(store.close)
    telemetry = _attach_sinks(runtime)
    runtime.health.on_cooldown = telemetry.credential_cooldown
    return EndpointWatcher(
        runtime.registry,
        store.load_snapshot,
        store.data_version,
        on_switch=telemetry.endpoint_switched,
    )


def _attach_sinks(runtime: Runtime) -> Telemetry:
    """Capture writer (when dumps are on) and telemetry: sinks of every exchange and services."""
    from cal.telemetry.hub import Telemetry

    settings = runtime.settings
    telemetry = Telemetry(
        settings, run_id=runtime.run_id, preview_bytes=settings.otel_prompt_preview_bytes
    )
    if settings.dump_enabled:
        from cal.capture.writer import CaptureWriter

        writer = CaptureWriter(settings, current_run=runtime.run_id)
        runtime.sinks.append(_CountingDrops(writer, telemetry))
        runtime.sink_services.append(writer)
    runtime.sinks.append(telemetry)
    runtime.sink_services.append(telemetry)
    _attach_ledger(runtime)
    runtime.metrics = telemetry.metrics_payload
    if telemetry.enabled:
        handler = telemetry.log_handler()
        root = logging.getLogger()
        root.addHandler(handler)
        runtime.closers.append(lambda: root.removeHandler(handler))
    return telemetry


def _attach_ledger(runtime: Runtime) -> None:
    """The usage ledger: totals per day, endpoint, model and source tag (status: `usage`)."""
    from cal.store.ledger_service import UsageLedger

    settings = runtime.settings
    ledger = UsageLedger(settings.db_path, grace_s=settings.shutdown_grace_s)
    runtime.sinks.append(ledger)
    runtime.sink_services.append(ledger)
    runtime.usage_today = ledger.today


class _CountingDrops:
    """The capture writer as a sink, with every exchange it had to drop counted in telemetry."""

    def __init__(self, writer: CaptureWriter, telemetry: Telemetry) -> None:
        self.name = writer.name
        self._writer, self._telemetry = writer, telemetry
        self.statistics = writer.statistics

    def submit_nowait(self, exchange: Exchange) -> bool:
        if self._writer.submit_nowait(exchange):
            return True
        self._telemetry.capture_dropped()
        return False


class DemoProvider:
    """Service: the built-in mock provider, added as an endpoint when none is configured."""

    name = "demo"

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        from cal.mock import MockOptions
        from cal.mock.service import MockService

        registry = self._runtime.registry
        if registry.snapshot.endpoints:
            task_status.started("demo: endpoints are configured, the mock provider is not needed")
            return
        # an upstream of the gateway: it stops after the gateway drained, so a short grace is enough
        mock = MockService(MockOptions(), host="127.0.0.1", port=0, graceful_timeout=0.5)
        async with trio.open_nursery() as nursery:
            described: Any = await nursery.start(mock.run, stop)
            registry.add_extra(Endpoint(DEMO_ENDPOINT, mock.url, "anthropic"))
            task_status.started(f"{described} (demo endpoint {DEMO_ENDPOINT!r})")


async def demo_services(runtime: Runtime) -> list[Service]:
    return [DemoProvider(runtime)]
