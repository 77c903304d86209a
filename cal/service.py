"""The runtime's seams: what a sibling service and an exchange sink look like.

A Service runs in the runtime's root nursery: `await nursery.start(service.run)` returns once it is
ready (its sockets bound, its files open), with a one-line description of where it is
(`task_status.started("gateway http://127.0.0.1:3010")`). It returns when `stop` is set.
An ExchangeSink receives finished exchanges without blocking: the hot path never waits on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import trio

    from cal.capture.model import Exchange


class Service(Protocol):
    name: str

    async def run(self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = ...) -> None: ...


class ExchangeSink(Protocol):
    def submit_nowait(self, exchange: Exchange) -> bool:
        """Take a finished exchange; False when it had to be dropped (and was counted)."""
        ...
