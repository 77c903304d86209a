"""Loaded by the gateway `steps.py` starts (it puts this folder on PYTHONPATH): with
CAL_BENCH_STEPS_FILE set, time the gateway's steps on a request's path.

Each function named in STEPS gets a wrapper that logs `perf_counter` as it is entered and as it
returns, labelled `name>` and `name<`; every trio socket receive and send is logged too
(`recv` and `send` with the byte count), so the log shows where a request's time goes between
its first bytes and the upstream send, and between the upstream's answer and the client's. The
wrappers cost a microsecond or two each: read the steps against each other. The log is written
to the file when the process exits (SIGTERM included, as timeline_site does).
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
    ("cal.http1.server", "parse_request_head", "parse head"),
    ("cal.http1.server", "body_framing", "framing"),
    ("cal.http1.server", "_Connection._scope", "scope"),
    ("cal.gateway.app", "GatewayApp._http", "app"),
    ("cal.gateway.app", "match_route", "route"),
    ("cal.gateway.app", "new_exchange", "exchange"),
    ("cal.gateway.asgi", "GatewayRequest.read_body", "body"),
    ("cal.gateway.pipeline", "decode_view", "view"),
    ("cal.gateway.pipeline", "_resolve", "resolve"),
    ("cal.gateway.failover", "AttemptLoop.run", "attempt loop"),
    ("cal.gateway.health", "RouteHealth.pick", "key pick"),
    ("cal.gateway.failover", "prepare", "prepare"),
    ("cal.gateway.failover", "_new_attempt", "attempt record"),
    ("cal.gateway.failover", "run_attempt", "run attempt"),
    ("cal.http1.client", "HttpClient.send", "client send"),
    ("cal.http1.client", "_encode_request", "encode"),
    ("cal.gateway.pump", "_relay_stream", "relay"),
    ("cal.gateway.pump", "deliver", "deliver"),
    ("cal.gateway.asgi", "GatewayRequest.start", "start"),
    ("cal.gateway.pipeline", "account_exchange", "accounting"),
]

_FILE = os.environ.get("CAL_BENCH_STEPS_FILE")


def _install(path: str) -> None:
    import trio

    log: list[tuple[float, str]] = []
    clock = time.perf_counter

    def flush() -> None:
        with open(path, "a") as out:
            out.writelines(f"{t:.7f} {label}\n" for t, label in log)
        log.clear()

    def on_term(number: int, _frame: object) -> None:
        flush()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)

    atexit.register(flush)
    signal.signal(signal.SIGTERM, on_term)

    def wrap(function: Any, label: str) -> Any:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                log.append((clock(), label + ">"))
                try:
                    return await function(*args, **kwargs)
                finally:
                    log.append((clock(), label + "<"))

            return timed_async

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            log.append((clock(), label + ">"))
            try:
                return function(*args, **kwargs)
            finally:
                log.append((clock(), label + "<"))

        return timed

    stream = trio.SocketStream
    send_all, receive_some = stream.send_all, stream.receive_some

    async def traced_send_all(
        self: trio.SocketStream, data: bytes | bytearray | memoryview
    ) -> None:
        log.append((clock(), "send"))
        await send_all(self, data)

    async def traced_receive_some(self: trio.SocketStream, max_bytes: int | None = None) -> bytes:
        data = await receive_some(self, max_bytes)
        log.append((clock(), "recv"))
        return data

    stream.send_all = traced_send_all  # type: ignore[method-assign]
    stream.receive_some = traced_receive_some  # type: ignore[method-assign]
    for module_name, attribute, label in STEPS:
        owner: Any = importlib.import_module(module_name)
        *path_to, name = attribute.split(".")
        for part in path_to:
            owner = getattr(owner, part)
        setattr(owner, name, wrap(getattr(owner, name), label))


if _FILE and "obs" in sys.argv:
    _install(_FILE)
