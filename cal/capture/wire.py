"""What the runtime and the capture worker say to each other over the worker's stdin/stdout (pure).

Frames: a 4-byte little-endian length, then a msgpack body. The runtime sends the Settings, then
requests: `Write` (followed by one frame per exchange, so that neither side ever copies a whole
batch at once) and `Prune` (a retention pass). The worker answers the Settings with `Ready` (or
`Failed`, and exits), each Write with `Written` and each Prune with `Pruned` or `Failed`, in
order; `Dropped` may come at any time. An exchange is handed over without the copies of what it
holds twice (`hand`), and is one object again on the other side (`unhand`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from cal.capture.engine import BatchResult
from cal.capture.model import Exchange
from cal.capture.retention import PruneResult

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
    """One Write is done (replies come in the order of the requests)."""

    result: BatchResult


class Pruned(msgspec.Struct, tag=True):
    result: PruneResult


class Dropped(msgspec.Struct, tag=True):
    """Exchanges the worker took but will not write: its spool was full, or the time it had
    after the runtime stopped ran out."""

    count: int


Request = Write | Prune
Reply = Ready | Failed | Written | Pruned | Dropped


def enc_hook(value: object) -> object:
    """Paths as strings (the Settings hold some)."""
    if isinstance(value, Path):
        return str(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


def dec_hook(kind: type, value: object) -> object:
    """Strings back into paths."""
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
