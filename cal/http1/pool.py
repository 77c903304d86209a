"""A bounded pool of keep-alive connections to one origin.

At most `max_connections` are open or opening at once. Idle ones are reused newest first (LIFO);
one that sat longer than the keep-alive expiry, or that has something to read (the server
closed it), is dropped instead. When the pool is full, requests queue FIFO: a released
connection, or the slot of a closed one, goes straight to the first waiter. A waiter that gives
up is only marked and skipped later, so no step scans the queue or the pool.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Callable

import trio

from cal.http1.connection import Connection, open_connection
from cal.http1.errors import ConnectTimeout


class _Waiter:
    """A request queued for a connection: it gets a `connection`, or a `slot` to open one."""

    __slots__ = ("connection", "event", "gone", "slot")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.connection: Connection | None = None
        self.slot = False
        self.gone = False


class OriginPool:
    """Connections to (host, port) over TCP, or TLS when given a context."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        keepalive_expiry_s: float,
    ) -> None:
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self.max_connections = max_connections
        self.keepalive_expiry_s = keepalive_expiry_s
        self.open_count = 0
        """Connections open or being opened (idle ones included)."""
        self.idle: deque[Connection] = deque()
        self._waiters: deque[_Waiter] = deque()

    async def acquire(
        self, timeout_s: float, *, fresh: bool = False, waiting: Callable[[], None] | None = None
    ) -> tuple[Connection, bool]:
        """(a connection, whether it was used before); `fresh` skips the idle ones. `waiting`
        is called first when there is no idle one to take at once."""
        if not fresh and (idle := self._take_idle()) is not None:
            return idle, True
        if waiting is not None:
            waiting()
        if self.open_count < self.max_connections:
            self.open_count += 1
            return await self._open(timeout_s), False
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            with trio.move_on_after(timeout_s):
                await waiter.event.wait()
        except BaseException:
            waiter.gone = True
            self._hand_back(waiter)
            raise
        waiter.gone = True
        if waiter.connection is not None:
            return waiter.connection, True
        if waiter.slot:
            return await self._open(timeout_s), False
        raise ConnectTimeout(f"no free connection to {self.host}:{self.port} in {timeout_s:g} s")

    def release(self, connection: Connection) -> None:
        """A connection whose exchange ended cleanly: to the first waiter, else idle."""
        waiter = self._next_waiter()
        if waiter is not None:
            waiter.connection = connection
            waiter.event.set()
            return
        connection.idle_since = trio.current_time()
        self.idle.append(connection)

    def discard(self, connection: Connection) -> None:
        """Close a connection that cannot be reused; its slot goes to the first waiter."""
        connection.close()
        self._slot_freed()

    def close_idle(self) -> None:
        while self.idle:
            self.discard(self.idle.pop())

    def _take_idle(self) -> Connection | None:
        idle = self.idle
        if not idle:
            return None
        oldest_allowed = trio.current_time() - self.keepalive_expiry_s
        while idle and idle[0].idle_since < oldest_allowed:
            self.discard(idle.popleft())
        while idle:
            connection = idle.pop()
            if not connection.looks_closed():
                return connection
            self.discard(connection)
        return None

    async def _open(self, timeout_s: float) -> Connection:
        """Open a connection in a slot already counted in `open_count`."""
        try:
            return await open_connection(self.host, self.port, self.ssl_context, timeout_s)
        except BaseException:
            self._slot_freed()
            raise

    def _slot_freed(self) -> None:
        waiter = self._next_waiter()
        if waiter is None:
            self.open_count -= 1
        else:
            waiter.slot = True  # the slot changes hands: open_count stays
            waiter.event.set()

    def _next_waiter(self) -> _Waiter | None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.gone:
                return waiter
        return None

    def _hand_back(self, waiter: _Waiter) -> None:
        """A cancelled waiter may have been given something just before: pass it on."""
        if waiter.connection is not None:
            self.release(waiter.connection)
        elif waiter.slot:
            self._slot_freed()
