"""runtime/: the supervisor: one trio nursery running cal's services as siblings (DESIGN §1).

Start order: sinks (capture writer, telemetry) and the endpoint watcher, then the traffic
services (mock provider under --demo, gateway, portal). Stop order is the reverse: on SIGINT,
SIGTERM (Ctrl-Break on Windows) or a stop request, the traffic services drain for a bounded grace
period, then the sinks flush what they were handed. A crashing service takes the process down.
"""

from __future__ import annotations

import gc
import logging
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from cal import __version__
from cal.config import Settings
from cal.gateway.app import GatewayApp
from cal.gateway.health import RouteHealth
from cal.gateway.pipeline import GatewayDeps
from cal.gateway.registry import EndpointRegistry, EndpointWatcher
from cal.gateway.upstream import UpstreamPool
from cal.routing.model import Endpoint, mask_key
from cal.serve import serve_asgi, serve_http1
from cal.service import ExchangeSink, Service

log = logging.getLogger(__name__)


def new_run_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"run_{stamp}_{secrets.token_hex(3)}"


class Runtime:
    """Everything built once at start-up and passed down (no module-level state)."""

    def __init__(self, settings: Settings, *, demo: bool = False) -> None:
        self.settings = settings
        self.demo = demo
        self.run_id = new_run_id()
        self.started_at = time.time()
        self.registry = EndpointRegistry()
        self.pool = UpstreamPool(settings)
        self.health = RouteHealth()
        """Credential pools' health and rate-limit state learnt from upstream answers."""
        self.sinks: list[ExchangeSink] = []
        self.sink_services: list[Service] = []
        self.listeners: dict[str, str] = {}
        self.stop = trio.Event()
        self.control_token = secrets.token_urlsafe(24)
        self.metrics: Callable[[], tuple[bytes, str]] | None = None
        """Prometheus exposition for the portal's /metrics (set by the telemetry sink)."""
        self.usage_today: Callable[[], dict[str, object]] | None = None
        """Today's request, token and cost totals (set by the usage ledger sink)."""
        self.closers: list[Callable[[], None]] = []
        """Blocking clean-ups run once every service has stopped (the store's close)."""

    def status(self) -> dict[str, Any]:
        """What `cal obs status` and the portal show; never a secret."""
        snapshot = self.registry.snapshot
        active = snapshot.choose()
        return {
            "version": __version__,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "demo": self.demo,
            "listeners": dict(self.listeners),
            "active_endpoint": active.name if active else None,
            "endpoints": [_endpoint_status(e, active) for e in snapshot.endpoints],
            "routing": self.health.status(snapshot.endpoints),
            "usage": self.usage_today() if self.usage_today is not None else None,
            "sinks": {getattr(s, "name", type(s).__name__): _statistics(s) for s in self.sinks},
        }


def _endpoint_status(endpoint: Endpoint, active: Endpoint | None) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "format": endpoint.format,
        "url": endpoint.url,
        "enabled": endpoint.enabled,
        "priority": endpoint.priority,
        "active": active is not None and endpoint.name == active.name,
        "api_key": mask_key(endpoint.api_key),
        "api_key_env": endpoint.api_key_env,
        "model_map": dict(endpoint.model_map),
    }


def _statistics(sink: object) -> Any:
    stats = getattr(sink, "statistics", None)
    if stats is None:
        return None
    import msgspec

    return msgspec.to_builtins(stats())


async def watch_signals(stop: trio.Event) -> None:
    """Set `stop` on SIGINT/SIGTERM (SIGBREAK too where it exists: Windows' Ctrl-Break)."""
    wanted = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGBREAK"):
        wanted.append(signal.SIGBREAK)
    with trio.open_signal_receiver(*wanted) as received:
        async for signum in received:
            log.info("received %s: stopping", signal.Signals(signum).name)
            stop.set()
            return


Report = Callable[[str], None]


async def run_runtime(
    runtime: Runtime,
    *,
    endpoint_source: EndpointWatcher | None,
    upstream_services: list[Service] | None = None,
    on_ready: Callable[[Runtime], None] | None = None,
    report: Report = print,
) -> None:
    """Run every service until `runtime.stop` is set (or a signal arrives)."""
    settings = runtime.settings
    sinks_stop = trio.Event()
    try:
        async with trio.open_nursery() as outer:
            signals = trio.CancelScope()
            outer.start_soon(_until_cancelled, signals, watch_signals, runtime.stop)
            for service in runtime.sink_services:
                report(await outer.start(service.run, sinks_stop))
            if endpoint_source is not None:
                report(await outer.start(endpoint_source.run, sinks_stop))
            for service in upstream_services or []:  # stop after the gateway drained
                report(await outer.start(service.run, sinks_stop))
            async with trio.open_nursery() as traffic:
                await _start_listeners(runtime, traffic)
                if on_ready is not None:
                    on_ready(runtime)
                # what start-up built lives as long as the process: out of the cyclic GC's
                # sight, so the collections that requests trigger only walk what requests made
                gc.freeze()
                await runtime.stop.wait()
                log.info("cal stopping: run %s", runtime.run_id)  # while telemetry still runs
                report(
                    "stopping: in-flight requests get up to "
                    f"{settings.shutdown_grace_s:g} s to finish"
                )
            signals.cancel()
            sinks_stop.set()
            outer.cancel_scope.deadline = trio.current_time() + settings.shutdown_grace_s + 5
    finally:
        with trio.CancelScope(shield=True):
            await runtime.pool.aclose()
        for close in runtime.closers:
            close()


async def _until_cancelled(
    scope: trio.CancelScope, fn: Callable[[trio.Event], Awaitable[None]], stop: trio.Event
) -> None:
    with scope:
        await fn(stop)


async def _start_listeners(runtime: Runtime, nursery: trio.Nursery) -> None:
    settings = runtime.settings
    deps = GatewayDeps(
        settings, runtime.registry, runtime.pool, runtime.sinks, runtime.run_id, runtime.health
    )
    host, port = await nursery.start(
        _serve, GatewayApp(deps), settings.gateway_host, settings.gateway_port, runtime, serve_http1
    )
    runtime.listeners["gateway"] = _url(host, port)
    if settings.viewer_enabled:
        from cal.portal.app import create_portal_app

        portal = create_portal_app(
            settings, runtime.status, runtime.stop, runtime.control_token, runtime.metrics
        )
        host, port = await nursery.start(
            _serve, portal, settings.portal_host, settings.portal_port, runtime, serve_asgi
        )
        runtime.listeners["portal"] = _url(host, port) + "/debug/obs"


async def _serve(
    app: Any,
    host: str,
    port: int,
    runtime: Runtime,
    serve: Callable[..., Awaitable[None]],
    *,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` with `serve` (cal/http1 for the gateway, hypercorn for the quart portal)."""
    await serve(
        app,
        host,
        port,
        runtime.stop,
        graceful_timeout=runtime.settings.shutdown_grace_s,
        task_status=task_status,
    )


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
