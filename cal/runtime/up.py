"""`cal obs up`: build the runtime's services and run them, in the foreground or detached."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import msgspec

from cal import __version__
from cal.config import ConfigError, Settings, load, parse_host_port
from cal.obs.daemon import (
    RuntimeState,
    clear_state,
    read_state,
    spawn_detached,
    wait_for_state,
    write_state,
)
from cal.obs.evidence import write_evidence

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 30.0


class UpOptions(msgspec.Struct, kw_only=True):
    demo: bool = False
    detach: bool = False
    data_dir: Path | None = None
    gateway: str | None = None
    portal: str | None = None
    evidence_dir: Path | None = None
    deployment_profile: str | None = None


def settings_for(options: UpOptions) -> Settings:
    overrides: dict[str, Any] = {
        "data_dir": options.data_dir,
        "deployment_profile": options.deployment_profile,
    }
    if options.gateway:
        overrides["gateway_host"], overrides["gateway_port"] = parse_host_port(options.gateway)
    if options.portal:
        overrides["portal_host"], overrides["portal_port"] = parse_host_port(options.portal)
    return load(overrides)


def child_args(options: UpOptions) -> list[str]:
    """The same `obs up` without --detach, for the background process."""
    args = ["obs", "up"]
    if options.demo:
        args.append("--demo")
    for flag, value in (
        ("--data-dir", options.data_dir),
        ("--gateway", options.gateway),
        ("--portal", options.portal),
        ("--deployment-profile", options.deployment_profile),
    ):
        if value is not None:
            args += [flag, str(value)]
    return args


def run_up(options: UpOptions) -> int:
    """Start the runtime; returns the exit code."""
    try:
        settings = settings_for(options)
    except ConfigError as exc:
        print(f"cal: {exc}", file=sys.stderr)
        return 2
    if settings.deployment_profile != "local_debug":
        print(
            f"cal: deployment profile {settings.deployment_profile!r} needs portal auth, which "
            "this version does not have yet; only local_debug (loopback) can start",
            file=sys.stderr,
        )
        return 2
    running = read_state(settings.data_dir)
    if running is not None:
        print(
            f"cal: already running for {settings.data_dir} (pid {running.pid}, gateway "
            f"{running.gateway}); stop it with `cal obs stop`",
            file=sys.stderr,
        )
        return 1
    if options.detach:
        return _detach(options, settings)
    from cal.runtime.foreground import run_foreground

    code, state = run_foreground(settings, demo=options.demo)
    if options.evidence_dir is not None:
        _evidence(options.evidence_dir, settings, state, code == 0)
    return code


def _detach(options: UpOptions, settings: Settings) -> int:
    pid, log_path = spawn_detached(child_args(options), settings.data_dir)
    state = wait_for_state(settings.data_dir, pid, READY_TIMEOUT_S)
    if state is None:
        print(f"cal: the runtime did not start; see {log_path}:", file=sys.stderr)
        try:
            tail = log_path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            tail = []
        for line in tail:
            print(f"  {line}", file=sys.stderr)
        ok = False
    else:
        print(f"cal {__version__} running in the background (pid {pid})")
        print(f"  gateway  {state.gateway}")
        if state.portal:
            print(f"  portal   {state.portal}")
        print(f"  log      {log_path}")
        print("  stop it with `cal obs stop`")
        ok = True
    if options.evidence_dir is not None:
        _evidence(options.evidence_dir, settings, state, ok)
    return 0 if ok else 1


def _evidence(directory: Path, settings: Settings, state: RuntimeState | None, ok: bool) -> None:
    found = None
    if state is not None:
        found = {"pid": state.pid, "gateway": state.gateway, "portal": state.portal}
    write_evidence(
        directory,
        "up",
        checked={
            "gateway": f"{settings.gateway_host}:{settings.gateway_port}",
            "portal": f"{settings.portal_host}:{settings.portal_port}",
            "data_dir": str(settings.data_dir),
            "deployment_profile": settings.deployment_profile,
        },
        found=found,
        passed=ok,
    )


def make_state(settings: Settings, runtime: Any) -> RuntimeState:
    return RuntimeState(
        pid=os.getpid(),
        version=__version__,
        run_id=runtime.run_id,
        started_at=runtime.started_at,
        gateway=runtime.listeners["gateway"],
        portal=runtime.listeners.get("portal"),
        control_token=runtime.control_token,
        data_dir=str(settings.data_dir),
    )


__all__ = ["UpOptions", "clear_state", "make_state", "run_up", "write_state"]
