"""A logging.Handler that hands log records to the OTLP exporter without ever blocking.

`emit` copies what the exporter needs into a bounded deque (safe from any thread, including
`trio.to_thread` workers); the exporter drains it. Records from the exporter's own HTTP stack are
skipped, so exporting logs never produces more logs to export.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import msgspec

_SKIP_PREFIXES = ("httpx", "httpcore", "hpack", "cal.telemetry")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_SCALAR = (str, int, float, bool)


class LogItem(msgspec.Struct, frozen=True):
    """What the exporter needs from one logging.LogRecord."""

    time_ns: int
    level: int
    level_name: str
    message: str
    logger: str
    attributes: dict[str, Any]


class LogBuffer:
    """Bounded, thread-safe queue of LogItems; counts what it had to drop."""

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self._items: deque[LogItem] = deque()
        self.dropped = 0

    def put(self, item: LogItem) -> bool:
        """Queue `item`; False (and counted) when full."""
        if len(self._items) >= self.capacity:
            self.dropped += 1
            return False
        self._items.append(item)
        return True

    def take(self, limit: int) -> list[LogItem]:
        """Up to `limit` queued items, oldest first."""
        out: list[LogItem] = []
        while self._items and len(out) < limit:
            out.append(self._items.popleft())
        return out

    def __len__(self) -> int:
        return len(self._items)


class OtlpLogHandler(logging.Handler):
    """Queues each record for OTLP export; never blocks, never raises."""

    def __init__(self, buffer: LogBuffer, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.buffer = buffer

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SKIP_PREFIXES):
            return
        try:
            self.buffer.put(to_item(record))
        except Exception:
            self.handleError(record)


def to_item(record: logging.LogRecord) -> LogItem:
    """A LogItem from a LogRecord: message formatted, `extra=` scalars kept as attributes."""
    attrs: dict[str, Any] = {
        "code.function.name": record.funcName,
        "code.file.path": record.pathname,
        "code.line.number": record.lineno,
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD and isinstance(value, _SCALAR):
            attrs[key] = value
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        attrs["exception.type"] = type(exc).__name__
        attrs["exception.message"] = str(exc)
        attrs["exception.stacktrace"] = logging.Formatter().formatException(record.exc_info)
    return LogItem(
        time_ns=int(record.created * 1e9),
        level=record.levelno,
        level_name=record.levelname,
        message=record.getMessage(),
        logger=record.name,
        attributes=attrs,
    )
