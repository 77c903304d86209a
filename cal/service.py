"""The runtime's seams: what a sibling service and an exchange sink look like.

A Service runs in the runtime's root nursery: `await nursery.start(service.run)` returns once it is
ready (its sockets bound, its files open), with a one-line description of where it is
(`task_status.started("gateway http://127.0.0.1:3010")`). It returns when `stop` is set.
An ExchangeSink receives finished exchanges without blocking: the hot path never waits on it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    import trio

    from cal.capture.model import Exchange

T = TypeVar("T")


class Service(Protocol):
    name: str

    async def run(self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = ...) -> None: ...


class ExchangeSink(Protocol):
    def submit_nowait(self, exchange: Exchange) -> bool:
        """Take a finished exchange; False when it had to be dropped (and was counted)."""
        ...


class DropCounter:
    """What a sink had to drop: a running total, logged at most once per `interval_s`."""

    def __init__(self, logger: logging.Logger, message: str, interval_s: float = 10.0) -> None:
        """`message` takes two %d: the drops since the last log line, and the total."""
        self.total = 0
        self._logger, self._message, self._interval = logger, message, interval_s
        self._unlogged = 0
        self._last_log = float("-inf")

    def add(self, count: int = 1) -> None:
        self.total += count
        self._unlogged += count
        now = time.monotonic()
        if now - self._last_log >= self._interval:
            self._logger.warning(self._message, self._unlogged, self.total)
            self._unlogged = 0
            self._last_log = now


def send_or_drop(channel: trio.MemorySendChannel[T], item: T, drops: DropCounter) -> bool:
    """Queue `item` without waiting; when the channel is full or closed, count a drop instead."""
    import trio

    try:
        channel.send_nowait(item)
    except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
        drops.add()
        return False
    return True
