"""Where the capture writer runs its engine: the capture worker process, or a worker thread.

Both offer `open`, `write`, `prune` and `close`. Results come back through the callbacks given
to `open`: `on_written` once per batch written, `on_dropped` for exchanges that were handed over
but will not be written. `WorkerProcess` (the default) runs cal/capture/worker.py as a child
process: `write` returns as soon as the batch is in the pipe (the loop's share of a batch is
encoding its exchanges), and a reader task takes the worker's replies. `InThread` runs the engine
in a trio worker thread of this process, one call at a time: where no worker can be started (a
frozen one-file binary has no `-m`).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import msgspec
import trio

from cal.capture.engine import BatchResult, CaptureEngine
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.retention import PruneResult
from cal.capture.wire import (
    HEAD,
    Dropped,
    Failed,
    Prune,
    Pruned,
    Ready,
    Reply,
    Write,
    Written,
    enc_hook,
    frame,
    hand,
)
from cal.config import Settings

_WIDE_PIPE = 1 << 20
"""What the worker's stdin pipe is widened to where the OS allows it (Linux: 1 MiB is the
unprivileged maximum), so a batch of large bodies goes in without waiting for the worker."""
_FLUSH_BYTES = 65536
"""Frames are joined into writes of at least this much, so small exchanges share a write. The
loop encodes each exchange as it sends, and gets a turn at every write: a request that comes in
during a hand-over waits for about one large exchange's encoding, not for a pipe's worth."""
OnWritten = Callable[[BatchResult], None]
OnDropped = Callable[[int], None]


class CaptureWorkerError(Exception):
    """The worker process could not start, or went away."""


class Engine(Protocol):
    """What the capture writer needs of wherever its engine runs."""

    async def open(
        self, nursery: trio.Nursery, on_written: OnWritten, on_dropped: OnDropped
    ) -> list[str]:
        """Start; returns notes worth a log line. Tasks of the engine run in `nursery`."""
        ...

    async def write(self, batch: list[Exchange]) -> None:
        """Hand `batch` over (its result goes to `on_written`, maybe later)."""
        ...

    async def prune(self, now: float, current_run: str | None) -> PruneResult: ...

    async def close(self, timeout_s: float) -> None:
        """Stop once what was handed over is written (at most `timeout_s`); idempotent."""
        ...


def worker_command() -> list[str] | None:
    """How to start the worker, or None where cal cannot (a frozen one-file binary)."""
    if getattr(sys, "frozen", False):
        return None
    return [sys.executable, "-m", "cal.capture.worker"]


class InThread:
    """The engine in a trio worker thread (one call at a time)."""

    def __init__(self, settings: Settings) -> None:
        self._engine = CaptureEngine(settings)
        self._limiter = trio.CapacityLimiter(1)
        self._on_written: OnWritten = lambda result: None
        self._closed = False

    async def open(
        self, nursery: trio.Nursery, on_written: OnWritten, on_dropped: OnDropped
    ) -> list[str]:
        self._on_written = on_written
        return await trio.to_thread.run_sync(self._engine.open, limiter=self._limiter)

    async def write(self, batch: list[Exchange]) -> None:
        result = await trio.to_thread.run_sync(self._engine.write, batch, limiter=self._limiter)
        self._on_written(result)

    async def prune(self, now: float, current_run: str | None) -> PruneResult:
        return await trio.to_thread.run_sync(
            self._engine.prune, now, current_run, limiter=self._limiter
        )

    async def close(self, timeout_s: float) -> None:
        if self._closed:
            return
        self._closed = True
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._engine.close, limiter=self._limiter)


class WorkerProcess:
    """The engine in the capture worker process; requests go out as they come, replies are read
    by a task of their own."""

    def __init__(self, settings: Settings, command: list[str]) -> None:
        self.settings = settings
        self.command = command
        self._process: trio.Process | None = None
        self._replies = bytearray()
        self._send_lock = trio.Lock()
        self._prune_lock = trio.Lock()
        self._pruned: trio.MemorySendChannel[Pruned | Failed] | None = None
        self._on_written: OnWritten = lambda result: None
        self._finished = trio.Event()
        self._closing = False
        self._encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)
        self._decoder: msgspec.msgpack.Decoder[Reply] = msgspec.msgpack.Decoder(Reply)

    async def open(
        self, nursery: trio.Nursery, on_written: OnWritten, on_dropped: OnDropped
    ) -> list[str]:
        """Start the worker, hand it the settings, wait until it is ready."""
        self._process = await trio.lowlevel.open_process(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        fileno = getattr(self._process.stdin, "fileno", None)  # an FdStream where there are fds
        if fileno is not None:
            _widen_pipe(fileno())
        await self._send([frame(self._encoder.encode(self.settings))])
        reply = await self._receive()
        if not isinstance(reply, Ready):
            message = reply.message if isinstance(reply, Failed) else type(reply).__name__
            raise CaptureWorkerError(f"the capture worker {message}")
        self._on_written = on_written
        nursery.start_soon(self._read_replies, on_dropped)
        return reply.notes

    async def write(self, batch: list[Exchange]) -> None:
        """Send `batch`; an exchange that cannot be encoded fails alone, reported at once."""
        failures: list[str] = []

        def frames() -> Iterator[bytes]:  # encoded as they are sent: the loop never waits long
            yield frame(self._encoder.encode(Write(len(batch))))
            for exchange in batch:
                try:
                    yield frame(self._encoder.encode(hand(exchange, self._encoder.encode)))
                except (TypeError, ValueError, OverflowError, NotImplementedError) as exc:
                    failures.append(redact_text(f"request {exchange.request_id}: {exc}"))
                    yield frame(b"")  # the worker skips it

        await self._send(frames())
        if failures:
            self._on_written(BatchResult(failed=len(failures), errors=failures))

    async def prune(self, now: float, current_run: str | None) -> PruneResult:
        async with self._prune_lock:
            send, receive = trio.open_memory_channel[Pruned | Failed](1)
            self._pruned = send
            await self._send([frame(self._encoder.encode(Prune(now, current_run)))])
            reply = await receive.receive()
        if isinstance(reply, Failed):
            raise RuntimeError(reply.message)
        return reply.result

    async def close(self, timeout_s: float) -> None:
        """Close the worker's stdin: it writes what it took (for at most the settings'
        `shutdown_grace_s`), reports the rest as dropped and exits. Killed if it has not
        exited `timeout_s` later."""
        process = self._process
        if process is None or self._closing:
            return
        self._closing = True
        with trio.CancelScope(shield=True):
            if process.stdin is not None:
                await process.stdin.aclose()
            with trio.move_on_after(timeout_s):
                await self._finished.wait()
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def _read_replies(self, on_dropped: OnDropped) -> None:
        try:
            while True:
                try:
                    reply = await self._receive()
                except CaptureWorkerError:
                    if self._closing:
                        return
                    if self._process is not None:  # for its exit code
                        with trio.move_on_after(1):
                            await self._process.wait()
                    raise self._gone() from None
                if isinstance(reply, Written):
                    self._on_written(reply.result)
                elif isinstance(reply, Dropped):
                    on_dropped(reply.count)
                elif isinstance(reply, Pruned | Failed) and self._pruned is not None:
                    self._pruned.send_nowait(reply)
        finally:
            self._finished.set()

    async def _send(self, frames: Iterable[bytes]) -> None:
        """Send `frames` (shielded: half a frame would garble the stream), small ones joined
        into writes of at least _FLUSH_BYTES."""
        process = self._process
        if process is None or process.stdin is None:
            raise CaptureWorkerError("the capture worker is not running")
        with trio.CancelScope(shield=True):
            async with self._send_lock:
                chunk: list[bytes] = []
                size = 0
                try:
                    for data in frames:
                        chunk.append(data)
                        size += len(data)
                        if size >= _FLUSH_BYTES:
                            await process.stdin.send_all(b"".join(chunk))
                            chunk, size = [], 0
                    if chunk:
                        await process.stdin.send_all(b"".join(chunk))
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    raise self._gone() from exc

    async def _receive(self) -> Reply:
        head = await self._read(HEAD)
        return self._decoder.decode(await self._read(int.from_bytes(head, "little")))

    async def _read(self, size: int) -> bytes:
        process = self._process
        if process is None or process.stdout is None:
            raise CaptureWorkerError("the capture worker is not running")
        while len(self._replies) < size:
            chunk = await process.stdout.receive_some(max(65536, size - len(self._replies)))
            if not chunk:
                raise self._gone()
            self._replies += chunk
        data = bytes(self._replies[:size])
        del self._replies[:size]
        return data

    def _gone(self) -> CaptureWorkerError:
        code = self._process.poll() if self._process is not None else None
        return CaptureWorkerError(
            f"the capture worker exited (code {code}); see its messages above"
        )


def _widen_pipe(fd: int) -> None:
    """Ask for a pipe buffer of _WIDE_PIPE bytes (the default stays where the OS refuses)."""
    if sys.platform != "linux":
        return
    import fcntl

    with contextlib.suppress(OSError):  # over /proc/sys/fs/pipe-max-size, or the user's quota
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _WIDE_PIPE)


def start_engine(settings: Settings, *, process: bool | None = None) -> Engine:
    """The engine for `settings`: in the worker process when `process` (None: wherever one can
    be started), else in a thread."""
    command = worker_command()
    if process is None:
        process = command is not None
    if process and command is not None:
        return WorkerProcess(settings, command)
    return InThread(settings)
