"""Run the runtime in this process until a signal or `cal obs stop` ends it."""

from __future__ import annotations

import logging
import sys

import trio

from cal import __version__
from cal.config import Settings
from cal.obs.daemon import RuntimeState, clear_state, write_state
from cal.runtime import Runtime, run_runtime
from cal.serve import PortInUseError

log = logging.getLogger(__name__)


def _say(line: str) -> None:
    print(line, flush=True)


def _leaf(error: BaseException) -> BaseException:
    """The first real exception inside nested exception groups (one per nursery)."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def run_foreground(settings: Settings, *, demo: bool) -> tuple[int, RuntimeState | None]:
    """Run until stopped; (exit code, the state it ran with)."""
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "hypercorn.access", "hypercorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # one line per request is not a log
    runtime = Runtime(settings, demo=demo)
    states: list[RuntimeState] = []

    def on_ready(rt: Runtime) -> None:
        from cal.runtime.up import make_state

        state = make_state(settings, rt)
        write_state(settings.data_dir, state)
        states.append(state)
        _say(f"cal {__version__} ready (run {rt.run_id})")
        log.info("cal %s started: run %s, listeners %s", __version__, rt.run_id, rt.listeners)
        _say(f"  gateway  {rt.listeners['gateway']}")
        if "portal" in rt.listeners:
            _say(f"  portal   {rt.listeners['portal']}")
        _say("  press Ctrl-C to stop")

    async def main() -> None:
        from cal.runtime.wiring import demo_services, prepare

        watcher = await prepare(runtime)
        extra = await demo_services(runtime) if demo else []
        await run_runtime(
            runtime,
            endpoint_source=watcher,
            upstream_services=extra,
            on_ready=on_ready,
            report=_say,
        )

    code = 0
    try:
        trio.run(main)
    except* PortInUseError as group:
        print(f"cal: {_leaf(group)}", file=sys.stderr)
        code = 1
    except* KeyboardInterrupt:
        code = 130
    finally:
        import os

        clear_state(settings.data_dir, os.getpid())
    if code == 0:
        log.info("cal stopped: run %s", runtime.run_id)
        _say("cal stopped")
    return code, states[0] if states else None
