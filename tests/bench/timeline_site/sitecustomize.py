"""Loaded by every Python process `timeline.py` starts (it puts this folder on PYTHONPATH):
with CAL_BENCH_TRACE_DIR set, log each trio socket send and receive, and in the gateway the
moment each request's record starts, to `{dir}/trace-{pid}.txt` when the process exits.

One line per event: `perf_counter kind local_port bytes`. `time.perf_counter` is the
monotonic clock, the same in every process of the machine, so the lines of all processes can be
merged. The log stays in memory until exit; SIGTERM (how the suite stops its processes) flushes
it too, unless the process has a handler of its own that exits cleanly.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import time

_DIR = os.environ.get("CAL_BENCH_TRACE_DIR")


def _install(folder: str) -> None:
    import trio

    log: list[tuple[float, str, int, int]] = []
    clock = time.perf_counter

    def flush() -> None:
        with open(os.path.join(folder, f"trace-{os.getpid()}.txt"), "a") as out:
            out.writelines(f"{t:.7f} {kind} {local} {size}\n" for t, kind, local, size in log)
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
        log.append((clock(), "send", port(self), len(data)))
        await send_all(self, data)

    async def traced_receive_some(self: trio.SocketStream, max_bytes: int | None = None) -> bytes:
        data = await receive_some(self, max_bytes)
        log.append((clock(), "recv", port(self), len(data)))
        return data

    stream.send_all = traced_send_all  # type: ignore[method-assign]
    stream.receive_some = traced_receive_some  # type: ignore[method-assign]
    if "obs" in sys.argv:  # the gateway: when each request's record starts
        from cal.gateway import asgi

        init = asgi.GatewayRequest.__init__

        def traced_init(self: asgi.GatewayRequest, *args: object, **kwargs: object) -> None:
            init(self, *args, **kwargs)  # type: ignore[arg-type]
            log.append((self.t0, "t0", 0, 0))

        asgi.GatewayRequest.__init__ = traced_init  # type: ignore[method-assign]


if _DIR:
    _install(_DIR)
