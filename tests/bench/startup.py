"""Scenario 6: start-up. `cal --version` (entry point, and the one-file binary if given) and
`cal obs up` until both its ports answer (gateway /health, portal status), fresh data dir each time.

Beside them: the bare interpreter (`python -c pass`) and `cal mock-upstream` until /health answers,
as the floors of the same machine at the same moment.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    CAL,
    Row,
    Stack,
    add_endpoint,
    clean_env,
    compare,
    fact,
    free_port,
    obs_up_argv,
    p50,
    wait_http,
)

NAME = "6 start-up"


def _timed(argv: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=clean_env())
        out.append(time.perf_counter() - started)
    return out


def _ready(stack: Stack, argv: list[str], checks: list[tuple[int, str]], name: str) -> float:
    started = time.perf_counter()
    proc = stack.spawn(name, argv, clean_env())
    try:
        for port, path in checks:
            wait_http(port, path, interval=0.002)
        return time.perf_counter() - started
    finally:
        proc.stop()


def run(stack: Stack, env: dict[str, Any], quick: bool) -> tuple[list[Row], dict[str, Any]]:
    runs = 3 if quick else 7
    entry = Path(sys.executable).with_name("cal")
    version = [str(entry), "--version"] if entry.exists() else [*CAL, "--version"]
    bare = _timed([sys.executable, "-c", "pass"], runs)
    ver = _timed(version, runs)
    module = _timed([*CAL, "--version"], runs)
    rows = [
        compare(
            NAME, "cal --version (entry point)", "s", None, p50(ver), p50(bare), 0.3, added=False
        ),
        fact(NAME, "python -m cal --version", "s", p50(module), None, ""),
    ]
    details: dict[str, Any] = {
        "entry_point": version[0],
        "bare_python_s": bare,
        "version_s": ver,
        "module_version_s": module,
    }
    binary = env.get("binary")
    if binary and Path(binary).exists():
        bin_runs = _timed([str(binary), "--version"], runs)
        rows.append(
            compare(NAME, f"{binary} --version", "s", None, p50(bin_runs), None, 0.3, added=False)
        )
        details["binary"] = {
            "path": str(binary),
            "mtime": Path(binary).stat().st_mtime,
            "s": bin_runs,
        }

    ups, mocks = [], []
    for _ in range(runs):
        port = free_port()
        argv = [*CAL, "mock-upstream", "--port", str(port)]
        mocks.append(_ready(stack, argv, [(port, "/health")], "mock-start"))
        data_dir = Path(tempfile.mkdtemp(prefix="up-", dir=stack.tmp))
        add_endpoint(data_dir, env["mock"], "anthropic")
        gw, portal = free_port(), free_port()
        checks = [(gw, "/health"), (portal, "/debug/obs/api/status")]
        ups.append(_ready(stack, obs_up_argv(data_dir, gw, portal), checks, "obs-up"))
        shutil.rmtree(data_dir, ignore_errors=True)
    rows.append(
        compare(
            NAME, "cal obs up ready (both ports)", "s", p50(mocks), p50(ups), None, 1.5, added=False
        )
    )
    details.update(obs_up_s=ups, mock_ready_s=mocks)
    return rows, details
