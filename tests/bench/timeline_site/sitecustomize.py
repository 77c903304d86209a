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

With CAL_BENCH_CALLS set to a file instead (`calls.py`), the gateway counts the function calls of
one request (the `CAL_BENCH_CALLS_AT`th the server parses) on its two hot stretches, and writes
them there as it exits: `up`, from the request head's parse to the upstream send
(`Connection.send`); `down`, from the answer head's parse to the first write to the client. One
line per call: `window kind where name`, kind `py` (a Python function; where is its file) or `c`
(a builtin; where is `-`), in the main thread (trio's). A profile hook sees every call, so the
gateway runs several times slower while it counts: the figures are counts, not times.
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
from collections.abc import Callable
from types import FrameType
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
_CALLS = os.environ.get("CAL_BENCH_CALLS")
_CALLS_AT = int(os.environ.get("CAL_BENCH_CALLS_AT", "60"))
_WINDOWS = {1: "up", 3: "down"}
"""The call counter's phases that count: 0 waits for the request's head, 1 counts `up`, 2 waits
for the answer's head, 3 counts `down`, 4 is done."""
_CLOSES = {1: ("send", "http1/connection.py"), 3: ("write", "http1/stream.py")}

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

    _flush_at_exit(flush)
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


def _flush_at_exit(flush: Callable[[], None]) -> None:
    """Run `flush` as the process exits, SIGTERM included."""

    def on_term(number: int, _frame: object) -> None:
        flush()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)

    atexit.register(flush)
    signal.signal(signal.SIGTERM, on_term)


def _count_calls(out: str) -> None:
    """Count the calls of one request into `out` (the module docstring says which)."""
    log: list[tuple[str, str, str, str]] = []
    seen = phase = 0

    def where(path: str) -> str:
        if "site-packages/" in path:
            return path.rsplit("site-packages/", 1)[1]
        if "/cal/" in path:
            return "cal/" + path.rsplit("/cal/", 1)[1]
        return path.rsplit("/", 1)[-1]

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal seen, phase
        if event == "call":
            code = frame.f_code
            name = code.co_name
            if phase == 0 and name == "parse_request_head":
                seen += 1
                phase = 1 if seen == _CALLS_AT else 0
            elif phase == 2 and name == "parse_response_head":
                phase = 3
            window = _WINDOWS.get(phase)
            if window is not None:
                log.append((window, "py", where(code.co_filename), name))
                closer, suffix = _CLOSES[phase]
                if name == closer and code.co_filename.endswith(suffix):
                    phase += 1
        elif event == "c_call" and phase in _WINDOWS:
            log.append((_WINDOWS[phase], "c", "-", getattr(arg, "__qualname__", "?")))

    def flush() -> None:
        with open(out, "w") as f:
            f.writelines(f"{w} {k} {p} {n}\n" for w, k, p, n in log)

    _flush_at_exit(flush)
    sys.setprofile(
        hook
    )  # the main thread's, where trio serves requests; other threads' calls do not count


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
elif _CALLS and "obs" in sys.argv:
    _count_calls(_CALLS)
