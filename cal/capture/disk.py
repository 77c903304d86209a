"""Bundles on disk: in-place writes completed by the manifest, requests.jsonl, removal (blocking I/O).

A bundle's files are written straight into `runs/{run}/traces/{trace}/{request}/`, the manifest
(`prompt.index.json`) last: a bundle is complete once its manifest exists, and its index row is
only inserted after that, so nothing lists a half-written bundle. Before a batch is written, its
bundle paths are noted in `{dump}/.in-progress`; at the next start, any of them still without a
manifest (the writer crashed mid-way) is deleted, and the note with it. Plain `os` calls, no
pathlib, so that a bundle costs a few system calls per file and little Python. Called from
`trio.to_thread` only.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import msgspec

from cal.capture.bundle import MANIFEST_NAME, Artifact, Bundle, sha256_hex
from cal.capture.model import SCHEMA_VERSION, Exchange

IN_PROGRESS = ".in-progress"
LEGACY_STAGING = ".staging"
"""Where an earlier cal built its bundles; removed at start-up if a crash left it."""
RUNS = "runs"
REQUESTS_JSONL = "requests.jsonl"
FILE_MODE = 0o600
DIR_MODE = 0o700
CONTENTS_KEPT = 4096
"""How many files written lately `Contents` remembers (an agent's conversation rarely holds more
prompts than this)."""
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
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


def _native(dump_dir: Path, rel_path: str) -> str:
    return os.path.join(dump_dir, *rel_path.split("/"))


def _write_new(path: str, data: bytes, flags: int = _NEW_FILE) -> None:
    fd = os.open(path, flags, FILE_MODE)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`."""
    done = os.write(fd, data)
    if done < len(data):  # a short write (a signal, a nearly full disk): go on until all is out
        view = memoryview(data)
        while done < len(data):
            done += os.write(fd, view[done:])


class Contents:
    """Files written lately, by content: a new file whose bytes one of them already holds is
    made a hard link to it instead of a second copy.

    An agent sends its whole conversation with every request, so most prompt files of a bundle
    repeat files of the bundle before, and a pass-through's upstream body is its client body.
    Creating a small file costs 47-159 µs on the ext4 we measured, linking one 6-9 µs
    (docs/benchmarks.md, session 5). A file is only linked while its inode, size and modification
    time are the ones it was written with, so one that was replaced or changed since is written
    anew. Where the file system cannot link, every file is written.
    """

    def __init__(self, kept: int = CONTENTS_KEPT) -> None:
        self._files: dict[tuple[str, int], tuple[str, int, int]] = {}
        """(sha256, size) → (path, inode, modification time in ns), least recently used first"""
        self._kept = kept

    def write(self, path: str, data: bytes, sha256: str) -> bool:
        """Create `path` holding `data`: a link when a known file holds the same bytes (True),
        else a new file (False)."""
        key = (sha256, len(data))
        known = self._files.pop(key, None)
        if known is not None:
            source, inode, mtime = known
            try:
                status = os.stat(source)
                if (status.st_ino, status.st_size, status.st_mtime_ns) == (inode, len(data), mtime):
                    os.link(source, path)
                    self._files[key] = known
                    return True
            except OSError:  # gone, or no hard links here (or too many): write the bytes
                pass
        fd = os.open(path, _NEW_FILE, FILE_MODE)
        try:
            write_all(fd, data)
            status = os.fstat(fd)
        finally:
            os.close(fd)
        self._files[key] = (path, status.st_ino, status.st_mtime_ns)
        if len(self._files) > self._kept:
            del self._files[next(iter(self._files))]
        return False


def _make_dirs(path: str) -> None:
    """Create `path` and any missing parent, each 0700 (existing ones are left as they are)."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    except FileNotFoundError:
        _make_dirs(os.path.dirname(path))
        os.mkdir(path, DIR_MODE)


class BundleFiles:
    """One bundle directory being filled: `add` each artifact as it comes, `finish` with the
    manifest. Use as a context manager: on any failure the directory is removed again."""

    def __init__(self, dump_dir: Path, rel_path: str, contents: Contents | None = None) -> None:
        self.path = _native(dump_dir, rel_path)
        self.bytes = 0
        self._prefix = self.path + os.sep
        self._contents = contents or Contents()

    def __enter__(self) -> BundleFiles:
        """Create the directory; one already there (the same request id again) is replaced."""
        _make_dirs(os.path.dirname(self.path))
        try:
            os.mkdir(self.path, DIR_MODE)
        except FileExistsError:
            shutil.rmtree(self.path)
            os.mkdir(self.path, DIR_MODE)
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def add(self, artifact: Artifact, sha256: str) -> None:
        """Put `artifact` (whose bytes hash to `sha256`) in the bundle."""
        check_name(artifact.name)
        self._contents.write(self._prefix + artifact.name, artifact.data, sha256)
        self.bytes += len(artifact.data)

    def finish(self, manifest: bytes) -> int:
        """Write the manifest (the bundle is complete from here on); returns the bundle's bytes."""
        _write_new(self._prefix + MANIFEST_NAME, manifest)
        self.bytes += len(manifest)
        return self.bytes


def check_name(name: str) -> None:
    """Refuse an artifact name that is not one plain file name of its own."""
    if "/" in name or "\\" in name or name.startswith(".") or name == MANIFEST_NAME:
        raise ValueError(f"unsafe artifact name {name!r}")


def write_bundle(
    dump_dir: Path, rel_path: str, bundle: Bundle, contents: Contents | None = None
) -> int:
    """Write a built `bundle` at `dump_dir/rel_path`, the manifest last; returns its bytes."""
    for artifact in bundle.files:
        check_name(artifact.name)
    with BundleFiles(dump_dir, rel_path, contents) as files:
        for artifact in bundle.files:
            files.add(artifact, sha256_hex(artifact.data))
        return files.finish(bundle.manifest)


def request_line(exchange: Exchange, rel_path: str) -> bytes:
    """The request's line of `runs/{run_id}/requests.jsonl`."""
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
    return msgspec.json.encode(line) + b"\n"


def append_request_lines(dump_dir: Path, lines: Iterable[tuple[str, bytes]]) -> None:
    """Append (run_id, line) pairs to their runs' requests.jsonl, one write per run."""
    per_run: dict[str, list[bytes]] = {}
    for run_id, line in lines:
        per_run.setdefault(run_id, []).append(line)
    for run_id, run_lines in per_run.items():
        target = os.path.join(dump_dir, RUNS, safe_part(run_id), REQUESTS_JSONL)
        _write_new(target, b"".join(run_lines), _APPEND)


def append_request_line(dump_dir: Path, exchange: Exchange, rel_path: str) -> None:
    """Append the request's line to `runs/{run_id}/requests.jsonl`."""
    append_request_lines(dump_dir, [(exchange.run_id, request_line(exchange, rel_path))])


def note_in_progress(dump_dir: Path, rel_paths: Iterable[str]) -> None:
    """Record the bundles about to be written (replacing the previous batch's note)."""
    data = "".join(p + "\n" for p in rel_paths).encode("utf-8")
    _write_new(os.path.join(dump_dir, IN_PROGRESS), data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)


def clear_in_progress(dump_dir: Path) -> None:
    """Forget the note (a clean stop: every noted bundle was finished or removed)."""
    try:
        os.unlink(os.path.join(dump_dir, IN_PROGRESS))
    except FileNotFoundError:
        pass


def remove_incomplete(dump_dir: Path) -> list[str]:
    """Delete the noted bundles that have no manifest (a crash mid-batch), then the note; also
    what an older cal's crash left in `.staging/`. Returns the bundle paths removed."""
    shutil.rmtree(dump_dir / LEGACY_STAGING, ignore_errors=True)
    note = os.path.join(dump_dir, IN_PROGRESS)
    try:
        with open(note, "rb") as handle:
            noted = handle.read().decode("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return []
    removed = []
    for rel_path in noted:
        parts = rel_path.split("/")
        if parts[0] != RUNS or any(p in ("", ".", "..") or "\\" in p for p in parts):
            continue
        folder = _native(dump_dir, rel_path)
        if os.path.isdir(folder) and not os.path.exists(os.path.join(folder, MANIFEST_NAME)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(rel_path)
    os.unlink(note)
    return removed


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
