"""Bundles on disk: atomic directory writes, the per-run requests.jsonl, removal (blocking I/O).

A bundle is written file by file into `{dump}/.staging/{random}/`, then moved in place with one
`os.replace` of the directory, so a reader (or a crash) never sees a half-written bundle under
`runs/`. Whatever is left in `.staging/` after a crash is deleted at the next start. Called from
`trio.to_thread` only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

import msgspec

from cal.capture.bundle import MANIFEST_NAME, Bundle
from cal.capture.model import SCHEMA_VERSION, Exchange

STAGING = ".staging"
RUNS = "runs"
REQUESTS_JSONL = "requests.jsonl"
FILE_MODE = 0o600
DIR_MODE = 0o700
_SAFE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def safe_part(value: str) -> str:
    """`value` as one safe path segment (ids are already safe; anything else is cleaned)."""
    if _SAFE_PART.fullmatch(value) and ".." not in value:
        return value
    cleaned = _UNSAFE_CHARS.sub("_", value).replace("..", "_").lstrip(".")[:128]
    return cleaned or "_"


def bundle_rel_path(exchange: Exchange) -> str:
    """`runs/{run_id}/traces/{trace_id}/{request_id}`, `/`-separated, relative to the dump dir."""
    parts = (exchange.run_id, exchange.trace_id, exchange.request_id)
    run, trace, request = (safe_part(p) for p in parts)
    return f"{RUNS}/{run}/traces/{trace}/{request}"


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), FILE_MODE
    )
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def write_bundle(dump_dir: Path, rel_path: str, bundle: Bundle) -> int:
    """Write `bundle` at `dump_dir/rel_path` atomically; returns the bytes written."""
    final = dump_dir.joinpath(*rel_path.split("/"))
    staging = dump_dir / STAGING
    staging.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    final.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    temp = staging / f"{final.name}-{secrets.token_hex(6)}"
    temp.mkdir(mode=DIR_MODE)
    try:
        for artifact in bundle.files:
            if "/" in artifact.name or "\\" in artifact.name or artifact.name.startswith("."):
                raise ValueError(f"unsafe artifact name {artifact.name!r}")
            _write_file(temp / artifact.name, artifact.data)
        _write_file(temp / MANIFEST_NAME, bundle.manifest)
        if final.exists():  # the same request id again: the newer bundle wins
            shutil.rmtree(final)
        os.replace(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return bundle.total_bytes


def append_request_line(dump_dir: Path, exchange: Exchange, rel_path: str) -> None:
    """Append the request's line to `runs/{run_id}/requests.jsonl`."""
    line = {
        "schema_version": SCHEMA_VERSION,
        "timestamp": exchange.started_at,
        "run_id": exchange.run_id,
        "trace_id": exchange.trace_id,
        "span_id": exchange.span_id,
        "request_id": exchange.request_id,
        "obs_ref": exchange.obs_ref,
        "path": rel_path,
    }
    target = dump_dir / RUNS / safe_part(exchange.run_id) / REQUESTS_JSONL
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
    fd = os.open(target, flags, FILE_MODE)
    with os.fdopen(fd, "ab") as handle:
        handle.write(msgspec.json.encode(line) + b"\n")


def clear_staging(dump_dir: Path) -> None:
    """Delete what a crash left in `.staging/` (never listed, never complete)."""
    shutil.rmtree(dump_dir / STAGING, ignore_errors=True)


def remove_bundle(dump_dir: Path, rel_path: str) -> None:
    """Delete a bundle directory and the trace directory above it when that is left empty."""
    if not rel_path.startswith(RUNS + "/") or ".." in rel_path.split("/"):
        return
    target = dump_dir.joinpath(*rel_path.split("/"))
    shutil.rmtree(target, ignore_errors=True)
    try:
        target.parent.rmdir()
    except OSError:
        pass


def remove_run(dump_dir: Path, run_id: str) -> None:
    """Delete a whole run directory (its bundles and its requests.jsonl)."""
    shutil.rmtree(dump_dir / RUNS / safe_part(run_id), ignore_errors=True)


def read_manifest(dump_dir: Path, rel_path: str) -> bytes:
    """The bytes of a bundle's `prompt.index.json` (OSError when it is gone)."""
    return dump_dir.joinpath(*rel_path.split("/"), MANIFEST_NAME).read_bytes()
