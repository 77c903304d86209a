"""`cal obs export`: bundles of a request, a session or a run as one archive, or a session as LHAR.

Requests are selected through the request index; each bundle contributes exactly the files its
manifest lists (plus the manifest). The archive is written to a temporary file next to `output`
and renamed in place, so a failed export never leaves a partial file under the requested name.
Blocking: call it from a thread (or from the CLI directly).
"""

from __future__ import annotations

import io
import os
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec

from cal.capture import lhar
from cal.capture.bundle import MANIFEST_NAME, encode_json
from cal.capture.model import SCHEMA_VERSION
from cal.config import Settings
from cal.store.db import Database
from cal.store.requests import RequestRow, requests_for

ExportFormat = Literal["zip", "tar", "lhar"]


class ExportError(Exception):
    """The export cannot be made; the message says why."""


class ExportResult(msgspec.Struct, frozen=True):
    """What an export wrote."""

    output: Path
    format: str
    requests: int
    bundles: int
    files: int
    bytes: int
    missing: list[str]
    """Request ids whose bundle is not on disk (pruned, or capture was off)."""


def export_bundles(
    settings: Settings,
    *,
    request_id: str | None = None,
    session_id: str | None = None,
    run_id: str | None = None,
    output: Path,
    fmt: ExportFormat = "zip",
) -> ExportResult:
    """Write the selected requests' bundles to `output` as a zip or tar.gz, or as LHAR."""
    if request_id is None and session_id is None and run_id is None:
        raise ExportError("choose what to export: --request ID, --session ID or --run ID")
    if fmt not in ("zip", "tar", "lhar"):
        raise ExportError(f"unknown export format {fmt!r} (zip, tar or lhar)")
    if not settings.db_path.exists():
        raise ExportError(f"no request index at {settings.db_path}: nothing was captured yet")
    db = Database.open(settings.db_path)
    try:
        with db.read() as conn:
            rows = requests_for(conn, request_id=request_id, session_id=session_id, run_id=run_id)
    finally:
        db.close()
    if not rows:
        raise ExportError("no captured request matches that selection")
    selection = {"request_id": request_id, "session_id": session_id, "run_id": run_id}
    output.parent.mkdir(parents=True, exist_ok=True)
    temp = output.with_name(f".{output.name}.partial")
    try:
        if fmt == "lhar":
            conversation = session_id or run_id or request_id or ""
            stats = _write_lhar(settings.dump_dir, rows, conversation, temp)
        else:
            stats = _write_archive(settings.dump_dir, rows, selection, temp, fmt)
        os.replace(temp, output)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    bundles, files, missing = stats
    return ExportResult(
        output=output,
        format=fmt,
        requests=len(rows),
        bundles=bundles,
        files=files,
        bytes=output.stat().st_size,
        missing=missing,
    )


Stats = tuple[int, int, list[str]]


def _bundle_files(dump_dir: Path, row: RequestRow) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of the manifest and every file it lists; nothing if the bundle is gone."""
    if row.bundle_path is None or ".." in row.bundle_path.split("/"):
        return
    folder = dump_dir.joinpath(*row.bundle_path.split("/"))
    try:
        manifest_bytes = (folder / MANIFEST_NAME).read_bytes()
        manifest = msgspec.json.decode(manifest_bytes)
    except (OSError, msgspec.DecodeError):
        return
    yield MANIFEST_NAME, manifest_bytes
    for entry in manifest.get("files", []):
        name = str(entry.get("name", ""))
        if not name or "/" in name or "\\" in name or name.startswith("."):
            continue
        try:
            yield name, (folder / name).read_bytes()
        except OSError:
            continue


def _write_archive(
    dump_dir: Path,
    rows: list[RequestRow],
    selection: dict[str, str | None],
    target: Path,
    fmt: ExportFormat,
) -> Stats:
    index = {
        "schema_version": SCHEMA_VERSION,
        "created_at": time.time(),
        "selection": selection,
        "requests": [msgspec.to_builtins(r) for r in rows],
    }
    entries: list[tuple[str, bytes]] = [("export.json", encode_json(index))]
    bundles, missing = 0, []
    for row in rows:
        found = [(f"{row.bundle_path}/{name}", data) for name, data in _bundle_files(dump_dir, row)]
        if found:
            bundles += 1
            entries += found
        else:
            missing.append(row.request_id)
    if fmt == "zip":
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    else:
        with tarfile.open(target, "w:gz") as archive:
            for name, data in entries:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
                archive.addfile(info, io.BytesIO(data))
    return bundles, len(entries) - 1, missing


def _write_lhar(dump_dir: Path, rows: list[RequestRow], conversation: str, target: Path) -> Stats:
    lines = [lhar.session_line(conversation, rows)]
    bundles, missing = 0, []
    for sequence, row in enumerate(rows, start=1):
        files = {n: d for n, d in _bundle_files(dump_dir, row) if n in lhar.ARTIFACTS}
        if files:
            bundles += 1
        else:
            missing.append(row.request_id)
        lines.append(lhar.entry_line(row, sequence, conversation, files))
    target.write_bytes(lhar.encode_lines(lines))
    return bundles, len(rows), missing
