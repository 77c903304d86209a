"""Loaded by the gateway `calls.py` starts (it puts this folder on PYTHONPATH): with
CAL_BENCH_CALLS set to a file, count the function calls of one request (the `CAL_BENCH_CALLS_AT`th
the server parses) on its two hot stretches, and write them there as the process exits:

- `up`: from the request head's parse to the upstream send (`Connection.send`);
- `down`: from the answer head's parse to the first write to the client.

One line per call: `window kind where name`, kind `py` (a Python function: where is its file) or
`c` (a builtin: where is `-`). A profile hook sees every call, so the process runs several times
slower while it counts: the figures are counts, not times.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

_OUT = os.environ.get("CAL_BENCH_CALLS")
_AT = int(os.environ.get("CAL_BENCH_CALLS_AT", "60"))
_WINDOWS = {1: "up", 3: "down"}
"""The phases that count: 0 waits for the request's head, 1 counts `up`, 2 waits for the
answer's head, 3 counts `down`, 4 is done."""
_CLOSES = {1: ("send", "http1/connection.py"), 3: ("write", "http1/stream.py")}


def _install(out: str) -> None:
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
                phase = 1 if seen == _AT else 0
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

    def on_term(number: int, _frame: object) -> None:
        flush()
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)

    atexit.register(flush)
    signal.signal(signal.SIGTERM, on_term)
    sys.setprofile(hook)
    threading.setprofile(hook)


if _OUT and "obs" in sys.argv:
    _install(_OUT)
