"""drain_in_batches: batches spaced by the window, nothing lost on stop, what is left counted."""

from __future__ import annotations

import logging

import trio
import trio.testing

from cal.service import DropCounter, drain_in_batches


class Sink:
    """A `write` that records its batches (and when they came, in trio time)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.times: list[float] = []
        self.delay_s = delay_s

    async def write(self, batch: list[int]) -> None:
        self.times.append(trio.current_time())
        await trio.sleep(self.delay_s)
        self.batches.append(batch)

    @property
    def items(self) -> list[int]:
        return [item for batch in self.batches for item in batch]


def _drops() -> DropCounter:
    return DropCounter(logging.getLogger("test"), "%d %d")


async def test_a_trickle_is_written_in_few_batches_and_nothing_waits_after_stop(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[int](100)
    sink, drops, stop = Sink(), _drops(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain_in_batches, send, receive, stop, 5.0, 64, sink.write, drops, 0.05)
        for i in range(50):  # one item every 10 ms for half a second
            send.send_nowait(i)
            await trio.sleep(0.01)
        stopped_at = trio.current_time()
        send.send_nowait(50)
        stop.set()
    assert sink.items == list(range(51))
    assert len(sink.batches) <= 12  # one per 50 ms window, not one per item
    assert sink.batches[0] == [0]  # the first item after a quiet spell goes at once
    spacing = [b - a for a, b in zip(sink.times, sink.times[1:-1], strict=False)]
    assert min(spacing) >= 0.05 - 1e-9  # the last batch, after stop, is the one not spaced
    assert sink.times[-1] - stopped_at < 0.001  # after stop nothing waits for the window
    assert drops.total == 0


async def test_a_full_batch_does_not_wait_for_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[int](100)
    sink, stop = Sink(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            drain_in_batches, send, receive, stop, 5.0, 4, sink.write, _drops(), 10.0
        )
        await trio.sleep(1)
        for i in range(9):
            send.send_nowait(i)
        await trio.sleep(1)
        assert sink.batches == [[0, 1, 2, 3], [4, 5, 6, 7]]  # [8] waits for the window…
        stop.set()
    assert sink.batches[-1] == [8]  # …or for stop
    assert trio.current_time() < 3


async def test_what_is_taken_is_written_and_what_is_left_at_the_deadline_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[int](100)
    sink, drops, stop = Sink(delay_s=1.0), _drops(), trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain_in_batches, send, receive, stop, 0.5, 2, sink.write, drops, 0.2)
        for i in range(7):
            send.send_nowait(i)
        await trio.sleep(0.1)  # [0, 1] is being written (1 s); the rest waits
        stop.set()  # the grace (0.5 s) ends before that write does
    assert sink.batches == [[0, 1]]  # the batch taken is finished (shielded)…
    assert drops.total == 5  # …what is still queued is counted as dropped
    assert receive.statistics().current_buffer_used == 0
