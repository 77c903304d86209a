"""The request read API and its minimal pages, as a blueprint mounted at `/debug/obs`.

Rules: every lookup goes through the request index (the portal never scans the dump tree); an
artifact is served only when its name is in the request's manifest (404 otherwise); traversal
attempts, encoded or not, are refused with 400 before routing; every shown value is
HTML-escaped; database and file reads run in worker threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import trio
from quart import Blueprint, Response, request

from cal.capture.bundle import MANIFEST_NAME
from cal.config import Settings
from cal.portal import request_pages as pages
from cal.store.db import Database
from cal.store.requests import (
    RequestFilter,
    RequestRow,
    facets,
    get_request,
    list_requests,
    requests_for_trace,
)

T = TypeVar("T")
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_ENCODED_BAD = (b"%2e", b"%2f", b"%5c", b"%00")
_STREAMS = {"raw": "stream.raw.events.jsonl", "transformed": "stream.transformed.events.jsonl"}
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"


class _Index:
    """The blueprint's lazily opened database and its bounded thread slot."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db: Database | None = None
        self.limiter = trio.CapacityLimiter(2)
        self.lock = trio.Lock()

    async def run(self, fn: Callable[[Database], T]) -> T:
        async with self.lock:
            if self.db is None:
                self.db = await trio.to_thread.run_sync(Database.open, self.settings.db_path)
        db = self.db

        def work() -> T:
            return fn(db)

        return await trio.to_thread.run_sync(work, limiter=self.limiter)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class BundleView(msgspec.Struct):
    """A request's row and its manifest (None when the bundle is gone or was never written)."""

    row: RequestRow
    manifest: dict[str, Any] | None

    def file_names(self) -> list[str]:
        if self.manifest is None:
            return []
        return [str(f.get("name")) for f in self.manifest.get("files", [])]


def is_traversal(path: str, raw_path: bytes) -> bool:
    """True for `..` segments, backslashes or encoded dots, slashes, backslashes and NULs."""
    lowered = raw_path.lower()
    if any(marker in lowered for marker in _ENCODED_BAD):
        return True
    return "\\" in path or "\x00" in path or ".." in path.split("/")


def _json(value: object, status: int = 200) -> Response:
    return Response(msgspec.json.encode(value), status=status, mimetype=JSON)


def _error(status: int, message: str, *, html: bool = False) -> Response:
    if html:
        return Response(pages.error_page(status, message), status=status, content_type=HTML)
    return _json({"error": message}, status)


def _int(name: str, default: int | None = None) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return default


def _float(name: str) -> float | None:
    value = request.args.get(name)
    try:
        return float(value) if value else None
    except ValueError:
        return None


def filter_from_query() -> RequestFilter:
    """The list filter from the query string (unknown or bad values are ignored)."""
    args = request.args
    return RequestFilter(
        since=_float("since"),
        until=_float("until"),
        run_id=args.get("run") or None,
        session_id=args.get("session") or None,
        trace_id=args.get("trace") or None,
        source_tag=args.get("source") or None,
        client_name=args.get("client") or None,
        model=args.get("model") or None,
        endpoint=args.get("endpoint") or None,
        status=_int("status"),
        errors_only=args.get("errors", "") in ("1", "true", "yes", "on"),
        text=args.get("q") or None,
        role=args.get("role") or None,
    )


def row_json(row: RequestRow) -> dict[str, Any]:
    """A row as the API shows it, with the portal links of the request."""
    data: dict[str, Any] = msgspec.to_builtins(row)
    data["links"] = pages.links(row)
    return data


def create_requests_blueprint(settings: Settings) -> Blueprint:
    """The request API and pages; register it with `url_prefix="/debug/obs"`."""
    bp = Blueprint("requests", __name__)
    index = _Index(settings)
    dump_dir = settings.dump_dir

    @bp.before_app_request
    async def _refuse_traversal() -> Response | None:
        path = request.path
        if not path.startswith("/debug/obs"):
            return None
        if is_traversal(path, request.scope.get("raw_path") or b""):
            return _error(400, "path traversal is not allowed")
        return None

    @bp.after_app_serving
    async def _close() -> None:
        index.close()

    async def view(request_id: str) -> BundleView | None:
        row = await index.run(lambda db: _get(db, request_id))
        if row is None:
            return None
        manifest = await trio.to_thread.run_sync(_read_manifest, dump_dir, row)
        return BundleView(row, manifest)

    async def artifact_bytes(request_id: str, name: str, html: bool) -> bytes | Response:
        """The bytes of a manifest-listed file, or the error response."""
        if not _SAFE_ID.fullmatch(request_id) or not _SAFE_NAME.fullmatch(name):
            return _error(400, "bad request id or artifact name", html=html)
        found = await view(request_id)
        if found is None:
            return _error(404, "no such request", html=html)
        allowed = found.file_names() + ([MANIFEST_NAME] if found.manifest else [])
        if name not in allowed or found.row.bundle_path is None:
            return _error(404, "no such artifact in this request's manifest", html=html)
        data = await trio.to_thread.run_sync(_read_artifact, dump_dir, found.row.bundle_path, name)
        if data is None:
            return _error(404, "the artifact is no longer on disk", html=html)
        return data

    async def artifact(request_id: str, name: str) -> Response:
        data = await artifact_bytes(request_id, name, html=False)
        return data if isinstance(data, Response) else Response(data, content_type=TEXT)

    @bp.get("/api/requests")
    async def api_requests() -> Response:
        flt = filter_from_query()
        limit, offset = _int("limit", 50) or 50, max(0, _int("offset", 0) or 0)
        rows, total = await index.run(lambda db: _list(db, flt, limit, offset))
        return _json(
            {
                "total": total,
                "limit": limit,
                "offset": offset,
                "requests": [row_json(r) for r in rows],
            }
        )

    @bp.get("/api/requests/facets")
    async def api_facets() -> Response:
        return _json(await index.run(_facets))

    @bp.get("/api/request/<request_id>")
    async def api_request(request_id: str) -> Response:
        if not _SAFE_ID.fullmatch(request_id):
            return _error(400, "bad request id")
        found = await view(request_id)
        if found is None:
            return _error(404, "no such request")
        return _json({"request": row_json(found.row), "manifest": found.manifest})

    @bp.get("/api/trace/<trace_id>")
    async def api_trace(trace_id: str) -> Response:
        if not _SAFE_ID.fullmatch(trace_id):
            return _error(400, "bad trace id")
        rows = await index.run(lambda db: _trace(db, trace_id))
        if not rows:
            return _error(404, "no requests in this trace")
        return _json({"trace_id": trace_id, "requests": [row_json(r) for r in rows]})

    @bp.get("/request/<request_id>")
    async def request_page(request_id: str) -> Response:
        if not _SAFE_ID.fullmatch(request_id):
            return _error(400, "bad request id", html=True)
        found = await view(request_id)
        if found is None:
            return _error(404, "no such request", html=True)
        return Response(pages.request_page(found.row, found.manifest), content_type=HTML)

    @bp.get("/request/<request_id>/body/<name>")
    async def body(request_id: str, name: str) -> Response:
        return await artifact(request_id, name)

    @bp.get("/request/<request_id>/artifact/<name>")
    async def artifact_page(request_id: str, name: str) -> Response:
        data = await artifact_bytes(request_id, name, html=True)
        if isinstance(data, Response):
            return data
        page = pages.artifact_page(request_id, name, data.decode("utf-8", "replace"))
        return Response(page, content_type=HTML)

    @bp.get("/request/<request_id>/stream/<side>")
    async def stream(request_id: str, side: str) -> Response:
        if side not in _STREAMS:
            return _error(400, "the stream is `raw` or `transformed`")
        return await artifact(request_id, _STREAMS[side])

    @bp.get("/request/<request_id>/prompt/<role>")
    async def prompt(request_id: str, role: str) -> Response:
        role, _, number = role.partition(".")
        name = f"prompt.{role}.txt" if number in ("", "1") else f"prompt.{role}.{number}.txt"
        return await artifact(request_id, name)

    @bp.get("/request/<request_id>/prompts")
    async def prompts(request_id: str) -> Response:
        if not _SAFE_ID.fullmatch(request_id):
            return _error(400, "bad request id", html=True)
        found = await view(request_id)
        if found is None:
            return _error(404, "no such request", html=True)
        texts = await trio.to_thread.run_sync(_read_prompts, dump_dir, found)
        return Response(pages.prompts_page(found.row, texts), content_type=HTML)

    @bp.get("/trace/<trace_id>")
    async def trace(trace_id: str) -> Response:
        if not _SAFE_ID.fullmatch(trace_id):
            return _error(400, "bad trace id", html=True)
        rows = await index.run(lambda db: _trace(db, trace_id))
        if not rows:
            return _error(404, "no requests in this trace", html=True)
        return Response(pages.trace_page(trace_id, rows), content_type=HTML)

    @bp.get("/ref/<trace_id>/<request_id>")
    async def ref(trace_id: str, request_id: str) -> Response:
        if not (_SAFE_ID.fullmatch(trace_id) and _SAFE_ID.fullmatch(request_id)):
            return _error(400, "an obs_ref is {trace_id}/{request_id}", html=True)
        found = await view(request_id)
        if found is None or found.row.trace_id != trace_id:
            return _error(404, "no such request in this trace", html=True)
        return Response(pages.request_page(found.row, found.manifest), content_type=HTML)

    @bp.get("/prompts")
    async def prompt_search() -> Response:
        flt = msgspec.structs.replace(filter_from_query(), with_prompts=True)
        limit, offset = _int("limit", 50) or 50, max(0, _int("offset", 0) or 0)
        rows, total = await index.run(lambda db: _list(db, flt, limit, offset))
        page = pages.search_page(dict(request.args), rows, total, limit, offset)
        return Response(page, content_type=HTML)

    return bp


# -- blocking helpers (worker threads) ---------------------------------------------------------


def _get(db: Database, request_id: str) -> RequestRow | None:
    with db.read() as conn:
        return get_request(conn, request_id)


def _list(
    db: Database, flt: RequestFilter, limit: int, offset: int
) -> tuple[list[RequestRow], int]:
    with db.read() as conn:
        return list_requests(conn, flt, limit=limit, offset=offset)


def _facets(db: Database) -> dict[str, list[Any]]:
    with db.read() as conn:
        return facets(conn)


def _trace(db: Database, trace_id: str) -> list[RequestRow]:
    with db.read() as conn:
        return requests_for_trace(conn, trace_id)


def _bundle_dir(dump_dir: Path, rel_path: str) -> Path | None:
    parts = rel_path.split("/")
    if not parts or any(p in ("", ".", "..") or "\\" in p for p in parts):
        return None
    return dump_dir.joinpath(*parts)


def _read_manifest(dump_dir: Path, row: RequestRow) -> dict[str, Any] | None:
    if row.bundle_path is None or (folder := _bundle_dir(dump_dir, row.bundle_path)) is None:
        return None
    try:
        data = msgspec.json.decode((folder / MANIFEST_NAME).read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    return data if isinstance(data, dict) else None


def _read_artifact(dump_dir: Path, rel_path: str, name: str) -> bytes | None:
    folder = _bundle_dir(dump_dir, rel_path)
    if folder is None:
        return None
    target = folder / name
    try:
        if target.resolve().parent != folder.resolve():
            return None
        return target.read_bytes()
    except OSError:
        return None


def _read_prompts(dump_dir: Path, found: BundleView) -> list[tuple[str, str, str]]:
    """(role, file, text) of every prompt in manifest order."""
    if found.manifest is None or found.row.bundle_path is None:
        return []
    allowed = set(found.file_names())
    out = []
    for entry in found.manifest.get("prompts", []):
        name = str(entry.get("file"))
        if name not in allowed:
            continue
        data = _read_artifact(dump_dir, found.row.bundle_path, name)
        if data is not None:
            out.append((str(entry.get("role")), name, data.decode("utf-8", "replace")))
    return out
