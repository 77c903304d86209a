"""The capture worker process: the capture engine in a process of its own, so that its Python work
never competes with the gateway's event loop for the GIL.

A writer thread in the runtime's process has to win the GIL back from the loop after each of its
system calls (a bundle makes about forty); when the loop is saturated it waits up to the 5 ms
switch interval each time and falls hopelessly behind. In a process of its own the engine runs
at the pace of the disk, and the loop only encodes each exchange (msgpack, 1-10 µs).

`python -m cal.capture.worker` is started by the runtime (cal/capture/engines.py) and speaks
cal/capture/wire.py on its stdin/stdout. A thread reads every request the moment it comes and
keeps it in memory, up to MEMORY_BYTES waiting, or else appends it to a spool file; the main
thread takes them in order and writes bundles. So the runtime never waits on the worker, however
far behind a burst leaves it; a worker that keeps up copies nothing twice, and a backlog beyond
MEMORY_BYTES costs disk, not memory (up to MAX_SPOOL_BYTES; beyond that, and what is left
`shutdown_grace_s` after the runtime closed the pipe, is reported as `Dropped`). The worker
ignores Ctrl-C and SIGTERM: it stops when its stdin closes, once it has written what it took.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO

import msgspec

from cal.capture.disk import write_all
from cal.capture.engine import CaptureEngine
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.wire import (
    HEAD,
    Dropped,
    Failed,
    Handed,
    Pruned,
    Ready,
    Reply,
    Request,
    Write,
    Written,
    dec_hook,
    enc_hook,
    frame,
    unhand,
)
from cal.config import Settings

SPOOL_NAME = "capture.spool"
MAX_SPOOL_BYTES = 1 << 30
MEMORY_BYTES = 16 << 20
"""How much of what waits is kept in memory; past it, requests wait in the spool file. Writing
every request to the spool and reading it back was a large share of a busy worker's time with
200 KB bodies (a profile, docs/benchmarks.md, session 5)."""
_RESTART_AT = 1 << 20
"""Once caught up, the spool file starts again from its beginning when it is past this size."""
_BINARY = getattr(os, "O_BINARY", 0)


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The body of the next frame, or None at the end of the stream."""
    head = stream.read(HEAD)
    if len(head) < HEAD:
        return None
    size = int.from_bytes(head, "little")
    body = stream.read(size)
    return body if len(body) == size else None


def _read_request(
    stream: IO[bytes], decode: Callable[[bytes], Request]
) -> tuple[list[bytes], int] | None:
    """The next request's frame bodies (a Write and its exchanges) and how many exchanges it
    carries; None at the end."""
    body = read_frame(stream)
    if body is None:
        return None
    request = decode(body)
    bodies = [body]
    count = request.count if isinstance(request, Write) else 0
    for _ in range(count):
        if (item := read_frame(stream)) is None:
            return None
        bodies.append(item)
    return bodies, count


def _read_exact(fd: int, size: int) -> bytes:
    parts = []
    while size:
        part = os.read(fd, size)
        if not part:
            raise OSError("the capture spool is shorter than what was written to it")
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


class Inbox:
    """Requests read off `stream` as they come (a thread of their own), kept in memory up to
    `memory_bytes` and in a spool file past that, until `next` takes them, in order."""

    def __init__(
        self,
        stream: IO[bytes],
        spool: Path,
        on_dropped: Callable[[int], None],
        memory_bytes: int = MEMORY_BYTES,
    ) -> None:
        self.ended_at: float | None = None
        """When `stream` ended (monotonic), once it has."""
        self._path = spool
        self._writer = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o600)
        self._reader = os.open(spool, os.O_RDONLY | _BINARY)
        self._queue: deque[tuple[list[bytes] | None, int, int]] = deque()
        """(the request's frame bodies, None when they wait in the spool; their size, in memory
        or in the spool; how many exchanges)"""
        self._memory_bytes = memory_bytes
        self._in_memory = 0
        self._spooled = 0
        self._end = 0
        self._lock = threading.Condition()
        self._on_dropped = on_dropped
        self._decode = msgspec.msgpack.Decoder(Request).decode
        self._thread = threading.Thread(
            target=self._read_all, args=(stream,), name="capture-inbox", daemon=True
        )
        self._thread.start()

    def _read_all(self, stream: IO[bytes]) -> None:
        try:
            while (request := _read_request(stream, self._decode)) is not None:
                bodies, exchanges = request
                with self._lock:
                    kept = self._keep(bodies, exchanges)
                    self._lock.notify()
                if not kept:
                    self._on_dropped(exchanges)
        finally:
            with self._lock:
                self.ended_at = time.monotonic()
                self._lock.notify()

    def _keep(self, bodies: list[bytes], exchanges: int) -> bool:
        """Queue a request, in memory or in the spool; False when the spool is full."""
        size = sum(len(body) for body in bodies)
        if self._in_memory + size <= self._memory_bytes:
            self._queue.append((bodies, size, exchanges))
            self._in_memory += size
            return True
        if self._end + size + HEAD * len(bodies) > MAX_SPOOL_BYTES:
            return False
        data = b"".join(frame(body) for body in bodies)
        write_all(self._writer, data)
        self._queue.append((None, len(data), exchanges))
        self._end += len(data)
        self._spooled += 1
        return True

    def next(self) -> tuple[list[bytes] | list[memoryview], int] | None:
        """The frame bodies of the next request and its exchange count, waiting for one; None
        once the stream has ended and every request was taken."""
        with self._lock:
            while not self._queue and self.ended_at is None:
                self._lock.wait()
            if not self._queue:
                return None
            bodies, size, exchanges = self._queue.popleft()
            if bodies is not None:
                self._in_memory -= size
                return bodies, exchanges
            data = _read_exact(self._reader, size)
            self._spooled -= 1
            if not self._spooled and self._end > _RESTART_AT:  # caught up: start again
                os.ftruncate(self._writer, 0)
                os.lseek(self._writer, 0, os.SEEK_SET)
                os.lseek(self._reader, 0, os.SEEK_SET)
                self._end = 0
        frames, view = [], memoryview(data)
        while view:
            size = int.from_bytes(view[:HEAD], "little")
            frames.append(view[HEAD : HEAD + size])
            view = view[HEAD + size :]
        return frames, exchanges

    def waiting(self) -> int:
        """Exchanges taken from the stream and not yet handed out by `next`."""
        with self._lock:
            return sum(exchanges for _, _, exchanges in self._queue)

    def close(self) -> None:
        os.close(self._writer)
        os.close(self._reader)
        self._path.unlink(missing_ok=True)


def serve(
    engine: CaptureEngine, inbox: Inbox, reply: Callable[[Reply], None], grace_s: float
) -> None:
    """Answer the inbox's requests in order, until it has ended and is empty, or until
    `grace_s` after it ended (what is left then is reported as dropped)."""
    decode_request = msgspec.msgpack.Decoder(Request).decode
    decode_handed = msgspec.msgpack.Decoder(Handed).decode
    decode_exchange = msgspec.msgpack.Decoder(Exchange).decode
    while (taken := inbox.next()) is not None:
        (head, *items), _ = taken
        request = decode_request(head)
        if isinstance(request, Write):
            batch, failures = [], []
            for item in items:
                if not item:  # one the runtime could not encode (it counts it)
                    continue
                try:
                    batch.append(unhand(decode_handed(item), decode_exchange))
                except (msgspec.DecodeError, LookupError, ValueError, AttributeError) as exc:
                    failures.append(f"an exchange the worker cannot read: {exc}")
            result = engine.write(batch)
            result.failed += len(failures)
            result.errors += failures
            reply(Written(result))
        else:
            try:
                reply(Pruned(engine.prune(request.now, request.current_run)))
            except Exception as exc:
                reply(Failed(redact_text(str(exc))))
        ended = inbox.ended_at
        if ended is not None and time.monotonic() > ended + grace_s:
            if left := inbox.waiting():
                reply(Dropped(left))
            return


NICENESS = 10
"""How much lower the worker's CPU priority is than the runtime's: writing bundles is background
work, and on a busy machine the gateway's requests (and the agent's own processes) come first.
Both threads keep the same priority: one that wrote bundles as idle work (`SCHED_IDLE`) held the
GIL when a busy machine starved it, so the thread taking requests off the pipe stopped too and
the backlog waited in the gateway (docs/benchmarks.md, session 5)."""


def _yield_cpu() -> None:
    nice = getattr(os, "nice", None)  # POSIX only
    if nice is not None:
        try:
            nice(NICENESS)
        except OSError:
            pass


def main() -> int:
    """The worker's entry point (`python -m cal.capture.worker`)."""
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if (number := getattr(signal, name, None)) is not None:
            signal.signal(number, signal.SIG_IGN)
    _yield_cpu()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)
    lock = threading.Lock()

    def reply(message: Reply) -> None:
        data = frame(encoder.encode(message))
        with lock:
            replies.write(data)
            replies.flush()

    body = read_frame(requests)
    if body is None:
        return 0
    settings = msgspec.msgpack.decode(body, type=Settings, dec_hook=dec_hook)
    engine = CaptureEngine(settings)
    try:
        notes = engine.open()
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        inbox = Inbox(requests, settings.data_dir / SPOOL_NAME, lambda n: reply(Dropped(n)))
    except Exception as exc:
        reply(Failed(redact_text(f"cannot start: {exc}")))
        return 1
    reply(Ready(notes))
    try:
        serve(engine, inbox, reply, settings.shutdown_grace_s)
    finally:
        inbox.close()
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
