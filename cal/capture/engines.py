"""Where the capture writer runs its engine: the capture worker process, or a worker thread.

Both offer the same four awaitables (`open`, `write`, `prune`, `close`), one call at a time.
`WorkerProcess` (the default) runs cal/capture/worker.py as a child process: the loop's share of
a batch is encoding its exchanges and writing them to a pipe. `InThread` runs the engine in a
trio worker thread of this process: where no worker can be started (a frozen one-file binary has
no `-m`), and for tests that want the engine in reach.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterable, Iterator
from typing import Protocol

import msgspec
import trio

from cal.capture.engine import BatchResult, CaptureEngine
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.retention import PruneResult
from cal.capture.worker import (
    HEAD,
    Failed,
    Prune,
    Pruned,
    Ready,
    Reply,
    Request,
    Write,
    Written,
    enc_hook,
    frame,
    hand,
)
from cal.config import Settings

_PIPE_BUFFER = 65536


class CaptureWorkerError(Exception):
    """The worker process could not start, or went away."""


class Engine(Protocol):
    """What the capture writer needs of wherever its engine runs."""

    async def open(self) -> list[str]: ...

    async def write(self, batch: list[Exchange]) -> BatchResult: ...

    async def prune(self, now: float, current_run: str | None) -> PruneResult: ...

    async def close(self, timeout_s: float) -> None: ...


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

    async def open(self) -> list[str]:
        return await trio.to_thread.run_sync(self._engine.open, limiter=self._limiter)

    async def write(self, batch: list[Exchange]) -> BatchResult:
        return await trio.to_thread.run_sync(self._engine.write, batch, limiter=self._limiter)

    async def prune(self, now: float, current_run: str | None) -> PruneResult:
        return await trio.to_thread.run_sync(
            self._engine.prune, now, current_run, limiter=self._limiter
        )

    async def close(self, timeout_s: float) -> None:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._engine.close, limiter=self._limiter)


class WorkerProcess:
    """The engine in the capture worker process: one request at a time, each awaited."""

    def __init__(self, settings: Settings, command: list[str]) -> None:
        self.settings = settings
        self.command = command
        self._process: trio.Process | None = None
        self._replies = bytearray()
        self._ready = False
        self._lock = trio.Lock()
        self._encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)
        self._decoder: msgspec.msgpack.Decoder[Reply] = msgspec.msgpack.Decoder(Reply)

    async def open(self) -> list[str]:
        """Start the worker and hand it the settings, then wait until it is ready."""
        self._process = await trio.lowlevel.open_process(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        await self._send([frame(self._encoder.encode(self.settings))])
        async with self._lock:
            reply = await self._receive()
        if not isinstance(reply, Ready):
            message = reply.message if isinstance(reply, Failed) else type(reply).__name__
            raise CaptureWorkerError(f"the capture worker {message}")
        return reply.notes

    async def write(self, batch: list[Exchange]) -> BatchResult:
        """Write `batch` in the worker; an exchange that cannot be encoded fails alone."""
        failures: list[str] = []

        def frames() -> Iterator[bytes]:  # encoded as they are sent: the loop never waits long
            for exchange in batch:
                try:
                    yield frame(self._encoder.encode(hand(exchange, self._encoder.encode)))
                except (TypeError, ValueError, OverflowError, NotImplementedError) as exc:
                    failures.append(redact_text(f"request {exchange.request_id}: {exc}"))
                    yield frame(b"")  # the worker skips it

        reply = await self._call(Write(len(batch)), frames())
        if not isinstance(reply, Written):
            raise CaptureWorkerError(f"unexpected reply {type(reply).__name__}")
        result = reply.result
        result.failed += len(failures)
        result.errors += failures
        return result

    async def prune(self, now: float, current_run: str | None) -> PruneResult:
        reply = await self._call(Prune(now, current_run))
        if isinstance(reply, Failed):
            raise RuntimeError(reply.message)
        if not isinstance(reply, Pruned):
            raise CaptureWorkerError(f"unexpected reply {type(reply).__name__}")
        return reply.result

    async def close(self, timeout_s: float) -> None:
        """Close the worker's stdin (it exits once its last reply is out); kill it if it has
        not exited after `timeout_s`."""
        process = self._process
        if process is None:
            return
        with trio.CancelScope(shield=True):
            if process.stdin is not None:
                await process.stdin.aclose()
            with trio.move_on_after(timeout_s):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def _call(self, request: Request, items: Iterable[bytes] = ()) -> Reply:
        """Send `request` (and the frames `items`), then wait for its reply; shielded: a call
        cut short would leave its reply to be read as the next one's (like a call into a
        thread, a call once made runs to its end)."""
        with trio.CancelScope(shield=True):
            async with self._lock:
                await self._send(itertools.chain([frame(self._encoder.encode(request))], items))
                reply = await self._receive()
        return reply

    async def _send(self, frames: Iterable[bytes]) -> None:
        """Send `frames`, small ones joined into writes of about a pipe's buffer."""
        process = self._process
        if process is None or process.stdin is None:
            raise CaptureWorkerError("the capture worker is not running")
        chunk: list[bytes] = []
        size = 0
        try:
            for data in frames:
                chunk.append(data)
                size += len(data)
                if size >= _PIPE_BUFFER:
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


def start_engine(settings: Settings, *, process: bool | None = None) -> Engine:
    """The engine for `settings`: in the worker process when `process` (None: wherever one can
    be started), else in a thread."""
    command = worker_command()
    if process is None:
        process = command is not None
    if process and command is not None:
        return WorkerProcess(settings, command)
    return InThread(settings)
