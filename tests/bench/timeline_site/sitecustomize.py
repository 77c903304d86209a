"""Loaded by every Python process `timeline.py` and `steps.py` start (they put this folder on
PYTHONPATH): with CAL_BENCH_TRACE_DIR set, log each trio socket send and receive, and in the
gateway the moment each request's record starts, to `{dir}/trace-{pid}.txt` when the process
exits. With CAL_BENCH_TRACE_STEPS set too (`steps.py`), the gateway also logs the entry (`>`)
and return (`<`) of each function in STEPS.

One line per event: `perf_counter kind local_port bytes label`, kind being send, recv, t0 or
step (label `-` but for steps). `time.perf_counter` is the monotonic clock, the same in every
process of the machine, so the lines of all processes can be merged. The log stays in memory
until exit; SIGTERM (how the suite stops its processes) flushes it too, unless the process has a
handler of its own that exits cleanly. Each logged event costs a microsecond or two.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import os
import signal
import sys
import time
from typing import Any

STEPS = [
    ("cal.http1.server", "parse_request_head", "parse_head"),
    ("cal.http1.server", "body_framing", "framing"),
    ("cal.http1.server", "_Connection._scope", "scope"),
    ("cal.gateway.app", "GatewayApp._http", "app"),
    ("cal.gateway.app", "match_route", "route"),
    ("cal.gateway.app", "new_exchange", "exchange"),
    ("cal.gateway.asgi", "GatewayRequest.read_body", "body"),
    ("cal.gateway.pipeline", "decode_view", "view"),
    ("cal.gateway.pipeline", "_resolve", "resolve"),
    ("cal.gateway.failover", "AttemptLoop.run", "attempt_loop"),
    ("cal.gateway.health", "RouteHealth.pick", "key_pick"),
    ("cal.gateway.failover", "prepare", "prepare"),
    ("cal.gateway.failover", "_new_attempt", "attempt_record"),
    ("cal.gateway.failover", "run_attempt", "run_attempt"),
    ("cal.http1.client", "HttpClient.send", "client_send"),
    ("cal.http1.client", "_encode_request", "encode"),
    ("cal.gateway.pump", "_relay_stream", "relay"),
    ("cal.gateway.pump", "deliver", "deliver"),
    ("cal.gateway.asgi", "GatewayRequest.start", "start"),
    ("cal.gateway.pipeline", "account_exchange", "accounting"),
]
"""(module, the function's name there (the caller's module for an imported one), label)"""

_DIR = os.environ.get("CAL_BENCH_TRACE_DIR")

Event = tuple[float, str, int, int, str]


def _install(folder: str, steps: bool) -> None:
    import trio

    log: list[Event] = []
    clock = time.perf_counter

    def flush() -> None:
        with open(os.path.join(folder, f"trace-{os.getpid()}.txt"), "a") as out:
            out.writelines(
                f"{t:.7f} {kind} {port} {size} {label}\n" for t, kind, port, size, label in log
            )
        log.clear()

    def on_term(number: int, _frame: object) -> None:
        flush()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)

    atexit.register(flush)
    signal.signal(signal.SIGTERM, on_term)
    stream = trio.SocketStream
    send_all, receive_some = stream.send_all, stream.receive_some

    def port(self: trio.SocketStream) -> int:
        try:
            return int(self.socket.getsockname()[1])
        except OSError:
            return 0

    async def traced_send_all(
        self: trio.SocketStream, data: bytes | bytearray | memoryview
    ) -> None:
        log.append((clock(), "send", port(self), len(data), "-"))
        await send_all(self, data)

    async def traced_receive_some(self: trio.SocketStream, max_bytes: int | None = None) -> bytes:
        data = await receive_some(self, max_bytes)
        log.append((clock(), "recv", port(self), len(data), "-"))
        return data

    stream.send_all = traced_send_all  # type: ignore[method-assign]
    stream.receive_some = traced_receive_some  # type: ignore[method-assign]
    if "obs" not in sys.argv:  # the rest is the gateway's
        return
    from cal.gateway import asgi

    init = asgi.GatewayRequest.__init__

    def traced_init(self: asgi.GatewayRequest, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        log.append((self.t0, "t0", 0, 0, "-"))

    asgi.GatewayRequest.__init__ = traced_init  # type: ignore[method-assign]
    if steps:
        for module_name, attribute, label in STEPS:
            owner: Any = importlib.import_module(module_name)
            *path_to, name = attribute.split(".")
            for part in path_to:
                owner = getattr(owner, part)
            setattr(owner, name, _timed(getattr(owner, name), label, log))


def _timed(function: Any, label: str, log: list[Event]) -> Any:
    clock = time.perf_counter
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            log.append((clock(), "step", 0, 0, label + ">"))
            try:
                return await function(*args, **kwargs)
            finally:
                log.append((clock(), "step", 0, 0, label + "<"))

        return timed_async

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        log.append((clock(), "step", 0, 0, label + ">"))
        try:
            return function(*args, **kwargs)
        finally:
            log.append((clock(), "step", 0, 0, label + "<"))

    return timed


if _DIR:
    _install(_DIR, bool(os.environ.get("CAL_BENCH_TRACE_STEPS")))
