"""The runtime's seams: what a sibling service and an exchange sink look like.

A Service runs in the runtime's root nursery: `await nursery.start(service.run)` returns once it is
ready (its sockets bound, its files open), with a one-line description of where it is
(`task_status.started("gateway http://127.0.0.1:3010")`). It returns when `stop` is set.
An ExchangeSink receives finished exchanges without blocking: the hot path never waits on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
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


async def drain_in_batches(
    send: trio.MemorySendChannel[T],
    receive: trio.MemoryReceiveChannel[T],
    stop: trio.Event,
    grace_s: float,
    batch_size: int,
    write: Callable[[list[T]], Awaitable[None]],
    drops: DropCounter,
    window_s: float = 0.0,
) -> None:
    """Hand queued items to `write` in batches of up to `batch_size` until `stop`, then go on
    until the queue is empty or `grace_s` has passed. A batch taken is a batch written (shielded);
    what is still queued at the end is counted as dropped.

    `window_s` spaces the batches: a batch is handed over at least `window_s` after the previous
    one started (or once it is full), so a steady trickle of items costs one `write` (one thread
    hop, one transaction) per window instead of one per item. An item arriving after a quiet
    spell is written at once; after `stop` nothing waits.
    """

    try:
        await _drain(send, receive, stop, grace_s, batch_size, write, window_s)
    finally:
        if left := receive.statistics().current_buffer_used:
            drops.add(left)
        receive.close()


async def _drain(
    send: trio.MemorySendChannel[T],
    receive: trio.MemoryReceiveChannel[T],
    stop: trio.Event,
    grace_s: float,
    batch_size: int,
    write: Callable[[list[T]], Awaitable[None]],
    window_s: float,
) -> None:
    import trio

    with trio.CancelScope() as drain_scope:

        async def close_on_stop() -> None:
            await stop.wait()
            send.close()  # the loop below ends once the queue is empty…
            drain_scope.deadline = trio.current_time() + grace_s  # …or at this deadline

        async with trio.open_nursery() as nursery:
            nursery.start_soon(close_on_stop)
            last = float("-inf")
            async for first in receive:
                batch = [first]
                await _gather(receive, batch, batch_size, last + window_s)
                last = trio.current_time()
                with trio.CancelScope(shield=True):
                    await write(batch)
            nursery.cancel_scope.cancel()


async def _gather(
    receive: trio.MemoryReceiveChannel[T], batch: list[T], batch_size: int, until: float
) -> None:
    """Add queued items to `batch`; wait for more until `until` while it is not full. Shielded:
    the items taken must reach `write`, so a cancellation here would lose them."""
    import trio

    with trio.CancelScope(shield=True, deadline=until):
        while len(batch) < batch_size:
            try:
                batch.append(receive.receive_nowait())
                continue
            except trio.EndOfChannel:
                return
            except trio.WouldBlock:
                if trio.current_time() >= until:
                    return
            try:
                batch.append(await receive.receive())
            except trio.EndOfChannel:
                return
