"""The running runtime as other processes see it: a state file, detaching, stopping, status.

`runtime.json` in the data dir (owner-only: it holds the control token) says which process runs
cal for that data dir and where it listens. `cal obs stop` asks the portal's control endpoint to
stop (portable: no signals needed on Windows), falls back to a signal, and waits for the exit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

STATE_FILE = "runtime.json"
LOG_FILE = "runtime.log"


class RuntimeState(msgspec.Struct):
    pid: int
    version: str
    run_id: str
    started_at: float
    gateway: str
    portal: str | None
    control_token: str
    data_dir: str
    log_file: str | None = None


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def write_state(data_dir: Path, state: RuntimeState) -> None:
    """Atomically write the state file, readable by its owner only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".runtime-", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.json.encode(state))
    if os.name == "posix":
        os.chmod(tmp, 0o600)
    os.replace(tmp, state_path(data_dir))


def read_state(data_dir: Path) -> RuntimeState | None:
    """The state of a runtime that is alive; a stale file (dead pid) is removed."""
    path = state_path(data_dir)
    try:
        state = msgspec.json.decode(path.read_bytes(), type=RuntimeState)
    except (OSError, msgspec.DecodeError):
        return None
    if not pid_alive(state.pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    return state


def clear_state(data_dir: Path, pid: int) -> None:
    """Remove the state file if it is this process's."""
    path = state_path(data_dir)
    try:
        state = msgspec.json.decode(path.read_bytes(), type=RuntimeState)
    except (OSError, msgspec.DecodeError):
        return
    if state.pid == pid:
        with contextlib.suppress(OSError):
            path.unlink()


def pid_alive(pid: int) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return bool(process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def self_command() -> list[str]:
    """How to run this same cal again: the frozen executable, or `python -m cal`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "cal"]


def spawn_detached(args: Sequence[str], data_dir: Path) -> tuple[int, Path]:
    """Start `cal ARGS` in the background, detached from this terminal; output to a log file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / LOG_FILE
    flags = 0
    if sys.platform == "win32":
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [*self_command(), *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,
            creationflags=flags,
            start_new_session=sys.platform != "win32",
        )
    return process.pid, log_path


def wait_for_state(data_dir: Path, pid: int, timeout: float) -> RuntimeState | None:
    """Poll until the runtime started as `pid` has written its state (ready), or died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(data_dir)
        if state is not None and state.pid == pid:
            return state
        if not pid_alive(pid):
            return None
        time.sleep(0.05)  # noqa: TID251 - a CLI process waiting on another process, not trio
    return None


def request_stop(state: RuntimeState, timeout: float) -> bool:
    """Ask the runtime to stop gracefully and wait for its process to end."""
    import httpx

    asked = False
    if state.portal:
        try:
            response = httpx.post(
                state.portal + "/api/control/stop",
                headers={"X-CAL-Control-Token": state.control_token},
                timeout=5.0,
            )
            asked = response.status_code == 200
        except httpx.HTTPError:
            asked = False
    if not asked:
        _signal_stop(state.pid)
    return _wait_exit(state.pid, timeout)


def _signal_stop(pid: int) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).terminate()  # SIGTERM on POSIX, TerminateProcess on Windows


def _wait_exit(pid: int, timeout: float) -> bool:
    """True once the process is gone (a zombie counts as gone: it only waits to be reaped)."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # noqa: TID251 - a CLI process waiting on another process, not trio
    return True


def force_stop(pid: int) -> None:
    import psutil

    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).kill()
