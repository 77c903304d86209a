"""The capture worker process: the capture engine in a process of its own, so that its Python work
never competes with the gateway's event loop for the GIL.

A writer thread in the runtime's process has to win the GIL back from the loop after each of its
system calls (a bundle makes about forty); when the loop is saturated it waits up to the 5 ms
switch interval each time and falls hopelessly behind (docs/benchmarks.md). In a process of its
own the engine runs at the disk's pace and the loop only encodes each exchange (msgpack, 1-10 µs).

`python -m cal.capture.worker` (started by cal/capture/engines.py) speaks frames (4-byte
little-endian length, msgpack body) on stdin/stdout. The runtime sends the Settings, then requests,
one at a time, each answered by one reply: `Write` (a batch: one frame per exchange follows, so
that neither side ever holds up its loop copying a whole batch) and `Prune` (a retention pass). The worker answers the Settings
with `Ready` (or `Failed` and exits) and stops when its stdin closes: after the last reply, so
nothing is lost, or when the runtime died. It ignores Ctrl-C and SIGTERM: the runtime decides
when capture stops, after draining what is queued.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import msgspec

from cal.capture.engine import BatchResult, CaptureEngine
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.retention import PruneResult
from cal.config import Settings

HEAD = 4


class Handed(msgspec.Struct, array_like=True):
    """One exchange as the worker gets it: msgpack-encoded on its own (one that cannot be read
    fails alone), and without the copies of what it holds twice: a field that was the same
    object as another is sent empty and named in `same` as (field, the field it is)."""

    exchange: msgspec.Raw
    same: list[tuple[str, str]]


class Write(msgspec.Struct, tag=True):
    """Write the exchanges of the next `count` frames (a Handed each; an empty frame is one the
    runtime could not encode, and counts itself)."""

    count: int


class Prune(msgspec.Struct, tag=True):
    """Run one retention pass."""

    now: float
    current_run: str | None


class Ready(msgspec.Struct, tag=True):
    """The engine is open (the reply to the Settings); `notes` are worth a log line."""

    notes: list[str]


class Failed(msgspec.Struct, tag=True):
    """The request (or the start) failed; `message` is redacted."""

    message: str


class Written(msgspec.Struct, tag=True):
    result: BatchResult


class Pruned(msgspec.Struct, tag=True):
    result: PruneResult


Request = Write | Prune
Reply = Ready | Failed | Written | Pruned


def enc_hook(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def dec_hook(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(f"cannot decode {kind}")


_BODIES = ("client_body", "transform_input", "transform_output", "response_body")
_ATTEMPT_BODIES = ("request_body", "response_body")


def hand(exchange: Exchange, encode: Callable[[object], bytes]) -> Handed:
    """`exchange` encoded for the worker, each body and the event list sent once: a pass-through
    stream's client events are its raw events, a translator's input is the client's body…"""
    seen: dict[int, str] = {}
    same: list[tuple[str, str]] = []

    def once(name: str, value: object) -> bool:
        if value is None:
            return True
        if (first := seen.setdefault(id(value), name)) == name:
            return True
        same.append((name, first))
        return False

    changes: dict[str, Any] = {
        name: None for name in _BODIES if not once(name, getattr(exchange, name))
    }
    attempts = list(exchange.attempts)
    for index, attempt in enumerate(attempts):
        cut = {
            name: None
            for name in _ATTEMPT_BODIES
            if not once(f"attempts.{index}.{name}", getattr(attempt, name))
        }
        if cut:
            attempts[index] = msgspec.structs.replace(attempt, **cut)
            changes["attempts"] = attempts
    if exchange.raw_events and exchange.client_events is exchange.raw_events:
        same.append(("client_events", "raw_events"))
        changes["client_events"] = []
    if changes:
        exchange = msgspec.structs.replace(exchange, **changes)
    return Handed(msgspec.Raw(encode(exchange)), same)


def _field(exchange: Exchange, path: str) -> tuple[object, str]:
    """The object holding the field `path` (`name` or `attempts.{i}.name`), and the name."""
    if path.startswith("attempts."):
        _, index, name = path.split(".")
        return exchange.attempts[int(index)], name
    return exchange, path


def unhand(handed: Handed, decode: Callable[[msgspec.Raw], Exchange]) -> Exchange:
    """The exchange `hand` encoded, each shared field the same object again."""
    exchange = decode(handed.exchange)
    for path, first in handed.same:
        source, name = _field(exchange, first)
        target, field = _field(exchange, path)
        setattr(target, field, getattr(source, name))
    return exchange


def frame(body: bytes) -> bytes:
    """`body` with its length in front."""
    return len(body).to_bytes(HEAD, "little") + body


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(HEAD)
    if len(head) < HEAD:
        return None
    size = int.from_bytes(head, "little")
    body = stream.read(size)
    return body if len(body) == size else None


def serve(engine: CaptureEngine, requests: IO[bytes], replies: IO[bytes]) -> None:
    """Answer requests until `requests` ends."""
    encoder = msgspec.msgpack.Encoder()
    decode_request = msgspec.msgpack.Decoder(Request).decode
    decode_handed = msgspec.msgpack.Decoder(Handed).decode
    decode_exchange = msgspec.msgpack.Decoder(Exchange).decode
    while (body := _read_frame(requests)) is not None:
        request = decode_request(body)
        reply: Reply
        if isinstance(request, Write):
            batch, failures = [], []
            for _ in range(request.count):
                if (item := _read_frame(requests)) is None:
                    return
                if not item:  # one the runtime could not encode (it counts it)
                    continue
                try:
                    batch.append(unhand(decode_handed(item), decode_exchange))
                except (msgspec.DecodeError, LookupError, ValueError, AttributeError) as exc:
                    failures.append(f"an exchange the worker cannot read: {exc}")
            result = engine.write(batch)
            result.failed += len(failures)
            result.errors += failures
            reply = Written(result)
        else:
            try:
                reply = Pruned(engine.prune(request.now, request.current_run))
            except Exception as exc:
                reply = Failed(redact_text(str(exc)))
        replies.write(frame(encoder.encode(reply)))
        replies.flush()


def main() -> int:
    """The worker's entry point (`python -m cal.capture.worker`)."""
    for name in ("SIGINT", "SIGTERM", "SIGBREAK"):
        if (number := getattr(signal, name, None)) is not None:
            signal.signal(number, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    encoder = msgspec.msgpack.Encoder(enc_hook=enc_hook)
    body = _read_frame(requests)
    if body is None:
        return 0
    engine = CaptureEngine(msgspec.msgpack.decode(body, type=Settings, dec_hook=dec_hook))
    try:
        notes = engine.open()
    except Exception as exc:
        replies.write(frame(encoder.encode(Failed(redact_text(f"cannot start: {exc}")))))
        replies.flush()
        return 1
    replies.write(frame(encoder.encode(Ready(notes))))
    replies.flush()
    try:
        serve(engine, requests, replies)
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
