"""The capture engine: batches of exchanges become bundles and index rows; retention (blocking).

Everything the capture writer does to the disk and the index, with no trio in it, so that it runs
the same in a worker thread of the runtime or in the capture worker process (cal/capture/worker.py).
One batch: its bundle paths noted in `.in-progress`, each bundle built and written file by file
(the manifest last), the batch's requests.jsonl lines appended, and every row inserted in one
transaction. A bundle that cannot be written is counted and its request still indexed.
"""

from __future__ import annotations

import msgspec

from cal.capture import disk
from cal.capture.bundle import build_bundle, bundle_prompts
from cal.capture.model import Exchange
from cal.capture.redact import redact_text
from cal.capture.retention import PruneResult, RetentionLimits, prune
from cal.capture.rows import request_row, search_text
from cal.config import Settings
from cal.store.db import Database
from cal.store.requests import RequestRow, insert_requests


class BatchResult(msgspec.Struct):
    """What writing one batch did; `errors` are redacted, one per failure."""

    written: int = 0
    failed: int = 0
    bytes_written: int = 0
    errors: list[str] = msgspec.field(default_factory=list)


class CaptureEngine:
    """Bundles and index rows for batches of exchanges, and retention passes (blocking I/O)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None
        self._contents = disk.Contents()

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("the capture engine is not open")
        return self._db

    def open(self) -> list[str]:
        """Open the index, create the dump dir, remove what a crash left unfinished; returns
        notes worth a log line."""
        self._db = Database.open(self.settings.db_path)
        if not self.settings.dump_enabled:
            return []
        self.settings.dump_dir.mkdir(mode=disk.DIR_MODE, parents=True, exist_ok=True)
        if removed := disk.remove_incomplete(self.settings.dump_dir):
            return [f"removed {len(removed)} bundle(s) a crash left unfinished"]
        return []

    def close(self) -> None:
        """A clean stop: every noted bundle was finished, forget the note; close the index."""
        try:
            if self.settings.dump_enabled:
                disk.clear_in_progress(self.settings.dump_dir)
        finally:
            if self._db is not None:
                self._db.close()

    def write(self, batch: list[Exchange]) -> BatchResult:
        """Bundles (when dumps are on) and index rows of `batch`."""
        result = BatchResult()
        settings = self.settings
        paths: list[str | None] = [None] * len(batch)
        if settings.dump_enabled:
            paths = [disk.bundle_rel_path(exchange) for exchange in batch]
            try:
                disk.note_in_progress(settings.dump_dir, [p for p in paths if p])
            except OSError as exc:  # the bundles below will say what is wrong with the disk
                result.errors.append(redact_text(f"cannot note the bundles in progress: {exc}"))
        rows: list[tuple[RequestRow, str]] = []
        lines: list[tuple[str, bytes]] = []
        for exchange, rel_path in zip(batch, paths, strict=True):
            try:
                rows.append(self._bundle(exchange, rel_path, result))
            except Exception as exc:  # one bad bundle must not stop the others…
                result.failed += 1
                result.errors.append(redact_text(f"request {exchange.request_id}: {exc}"))
                bare = request_row(
                    exchange, [], bundle_path=None, bundle_bytes=0, secrets=settings.capture_secrets
                )
                rows.append((bare, ""))  # …and the request is still listed, without a bundle
            else:
                if rel_path is not None:
                    lines.append((exchange.run_id, disk.request_line(exchange, rel_path)))
        if lines:
            try:
                disk.append_request_lines(settings.dump_dir, lines)
            except OSError as exc:  # the index is what counts: go on
                result.errors.append(redact_text(f"requests.jsonl not written: {exc}"))
        try:
            with self.db.write() as conn:
                insert_requests(conn, rows)
        except Exception as exc:
            result.written, result.failed = 0, len(batch)
            result.errors.append(redact_text(f"index write failed: {exc}"))
        return result

    def _bundle(
        self, exchange: Exchange, rel_path: str | None, result: BatchResult
    ) -> tuple[RequestRow, str]:
        settings = self.settings
        size = 0
        if rel_path is not None:
            with disk.BundleFiles(settings.dump_dir, rel_path, self._contents) as files:
                bundle = build_bundle(exchange, settings, on_file=files.add)
                size = files.finish(bundle.manifest)
            prompts = bundle.prompts
        else:
            prompts = bundle_prompts(exchange, settings)
        row = request_row(
            exchange,
            prompts,
            bundle_path=rel_path,
            bundle_bytes=size,
            secrets=settings.capture_secrets,
        )
        result.written += 1
        result.bytes_written += size
        return row, search_text(prompts)

    def prune(self, now: float, current_run: str | None) -> PruneResult:
        """One retention pass under the settings' limits."""
        limits = RetentionLimits.from_settings(self.settings)
        return prune(self.db, self.settings.dump_dir, limits, now=now, current_run=current_run)
