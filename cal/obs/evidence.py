"""Evidence files: what a check looked at, what it found, the verdict, versions and times."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from cal import __version__

EVIDENCE_SCHEMA = "code-agent-lens-evidence/v1"


def write_evidence(
    directory: Path, command: str, *, checked: Any, found: Any, passed: bool, **extra: Any
) -> Path:
    """Write `obs-{command}.json` atomically in `directory`; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    now = time.time()
    record = {
        "schema": EVIDENCE_SCHEMA,
        "command": f"cal obs {command}",
        "argv": sys.argv[1:],
        "checked": checked,
        "found": found,
        "verdict": "pass" if passed else "fail",
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "unix_time": now,
        **extra,
    }
    path = directory / f"obs-{command.replace(' ', '-')}.json"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".evidence-", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n")
    os.replace(tmp, path)
    return path
