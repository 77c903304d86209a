"""The live endpoint list the gateway routes with, and the service that keeps it fresh.

The store is the source of truth; `cal endpoint …` in another process changes it, and the watcher
notices within a poll interval (PRAGMA data_version) and swaps in a new immutable snapshot.
A request takes the snapshot once, so a change never affects requests already in flight.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import msgspec
import trio

from cal.routing.model import Endpoint
from cal.routing.resolve import Resolution, choose_endpoint, enabled_in_order, resolve

log = logging.getLogger(__name__)


_RESOLUTIONS_KEPT = 256
"""A snapshot remembers this many (model, pin) resolutions, then starts over."""


class EndpointSnapshot(msgspec.Struct, frozen=True):
    endpoints: tuple[Endpoint, ...] = ()
    active: str | None = None
    version: int = 0
    resolutions: dict[tuple[str | None, str | None], Resolution] = msgspec.field(
        default_factory=dict
    )
    """What `resolve` found for this snapshot's endpoints, by (model, pin): the same question
    gets the same answer for as long as the snapshot is current."""

    def resolve(self, model: str | None, pin: str | None) -> Resolution:
        """routing/resolve.py's `resolve` on this snapshot (PinError is not remembered)."""
        key = (model, pin)
        found = self.resolutions.get(key)
        if found is None:
            if len(self.resolutions) >= _RESOLUTIONS_KEPT:
                self.resolutions.clear()
            found = self.resolutions[key] = resolve(self.endpoints, self.active, model, pin)
        return found

    def choose(self) -> Endpoint | None:
        return choose_endpoint(self.endpoints, self.active)

    def enabled(self) -> list[Endpoint]:
        return enabled_in_order(self.endpoints)


class EndpointRegistry:
    """Holds the current snapshot; `extra` endpoints (the --demo mock) live in memory only."""

    def __init__(self) -> None:
        self.snapshot = EndpointSnapshot()
        self._extra: tuple[Endpoint, ...] = ()
        self._stored: tuple[Endpoint, ...] = ()
        self._active: str | None = None

    def set_stored(self, endpoints: Sequence[Endpoint], active: str | None) -> None:
        self._stored, self._active = tuple(endpoints), active
        self._publish()

    def add_extra(self, endpoint: Endpoint) -> None:
        self._extra += (endpoint,)
        self._publish()

    def _publish(self) -> None:
        version = self.snapshot.version + 1
        self.snapshot = EndpointSnapshot(self._stored + self._extra, self._active, version)


Loader = Callable[[], tuple[int, list[Endpoint], str | None]]
"""Blocking: (data_version, endpoints, active) read from the store."""


class EndpointWatcher:
    """Service: loads the store into the registry, then polls for changes."""

    name = "endpoints"

    def __init__(
        self,
        registry: EndpointRegistry,
        load: Loader,
        data_version: Callable[[], int],
        interval_s: float = 0.25,
        on_switch: Callable[[str], None] | None = None,
    ) -> None:
        self._registry, self._load, self._data_version = registry, load, data_version
        self._interval = interval_s
        self._on_switch = on_switch
        """Told the new active endpoint when a switch made elsewhere (`cal endpoint switch`) lands."""

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        seen, endpoints, active = await trio.to_thread.run_sync(self._load)
        self._registry.set_stored(endpoints, active)
        task_status.started(f"endpoints: {len(endpoints)} configured")
        while not stop.is_set():
            with trio.move_on_after(self._interval):
                await stop.wait()
            if stop.is_set():
                return
            try:
                current = await trio.to_thread.run_sync(self._data_version)
                if current == seen:
                    continue
                # data_version moves on any commit (request index rows too): reload, then
                # publish only what really changed
                seen, loaded, now_active = await trio.to_thread.run_sync(self._load)
                if (loaded, now_active) != (endpoints, active):
                    if now_active != active and now_active:
                        log.info("active endpoint switched to %s", now_active)
                        if self._on_switch is not None:
                            self._on_switch(now_active)
                    endpoints, active = loaded, now_active
                    self._registry.set_stored(endpoints, active)
                    log.info("endpoints reloaded: %d configured, active %s", len(endpoints), active)
            except Exception:
                log.exception("could not reload endpoints; keeping the previous list")
