"""The bundle writer process: the capture engine, run as idle work.

`python -m cal.capture.bundler` is started by the capture worker (cal/capture/worker.py), which
takes the runtime's requests off its pipe as they come and hands them here one at a time. It
reads the Settings, then requests (cal/capture/wire.py: a `Write` and its exchanges, or a
`Prune`) on its stdin, and answers each on its stdout, in order. It runs as idle work (Linux
`SCHED_IDLE`, `nice` 19 elsewhere): it writes bundles only when no other process wants the CPU.
It is a process of its own because a thread at that priority would hold the worker's GIL while
a busy machine starves it, and stop the thread that must keep the runtime's pipe drained
(docs/benchmarks.md, session 5). It ignores Ctrl-C and SIGTERM and stops at the end of its stdin,
once it has answered what it took.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import IO

import msgspec

from cal.capture.engine import CaptureEngine
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.wire import (
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
    read_frame,
    unhand,
)
from cal.config import Settings

IDLE_NICENESS = 19
"""Where the OS has no idle scheduling class: the lowest `nice` priority."""


class Bundler:
    """Answers requests with the engine: a Write's exchanges become bundles and index rows."""

    def __init__(self, engine: CaptureEngine) -> None:
        self.engine = engine
        self._request = msgspec.msgpack.Decoder(Request).decode
        self._handed = msgspec.msgpack.Decoder(Handed).decode
        self._exchange = msgspec.msgpack.Decoder(Exchange).decode

    def answer(self, head: bytes | memoryview, items: Sequence[bytes | memoryview]) -> Reply:
        """The reply to one request: `head` and, for a Write, its exchanges' frames."""
        request = self._request(head)
        if not isinstance(request, Write):
            try:
                return Pruned(self.engine.prune(request.now, request.current_run))
            except Exception as exc:
                return Failed(redact_text(str(exc)))
        batch, failures = [], []
        for item in items:
            if not item:  # one the runtime could not encode (it counts it)
                continue
            try:
                batch.append(unhand(self._handed(item), self._exchange))
            except (msgspec.DecodeError, LookupError, ValueError, AttributeError) as exc:
                failures.append(f"an exchange the worker cannot read: {exc}")
        result = self.engine.write(batch)
        result.failed += len(failures)
        result.errors += failures
        return Written(result)


def run_as_idle_work() -> None:
    """Linux `SCHED_IDLE` for this process (threads started later inherit it), else the lowest
    `nice`; best effort."""
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is not None:
        try:
            os.sched_setscheduler(0, idle, os.sched_param(0))
            return
        except OSError:
            pass
    nice = getattr(os, "nice", None)  # POSIX only
    if nice is not None:
        try:
            nice(IDLE_NICENESS - nice(0))
        except OSError:
            pass


def serve(requests: IO[bytes], reply: Callable[[Reply], None], bundler: Bundler) -> None:
    """Answer every request on `requests` until it ends."""
    decode = msgspec.msgpack.Decoder(Request).decode
    while (head := read_frame(requests)) is not None:
        request = decode(head)
        items: list[bytes] = []
        for _ in range(request.count if isinstance(request, Write) else 0):
            if (item := read_frame(requests)) is None:
                return
            items.append(item)
        reply(bundler.answer(head, items))


def main() -> int:
    """The bundler's entry point (`python -m cal.capture.bundler`)."""
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if (number := getattr(signal, name, None)) is not None:
            signal.signal(number, signal.SIG_IGN)
    run_as_idle_work()
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)

    def reply(message: Reply) -> None:
        replies.write(frame(encoder.encode(message)))
        replies.flush()

    body = read_frame(requests)
    if body is None:
        return 0
    engine = CaptureEngine(msgspec.msgpack.decode(body, type=Settings, dec_hook=dec_hook))
    try:
        notes = engine.open()
    except Exception as exc:
        reply(Failed(redact_text(f"cannot start: {exc}")))
        return 1
    reply(Ready(notes))
    try:
        serve(requests, reply, Bundler(engine))
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
