"""An Exchange as an artifact bundle: a list of (name, bytes) files plus the manifest (pure).

Layout and every artifact are documented in docs/artifact-format.md. The capture policy decides
what goes in: headers, bodies and stream events each `all`, `metadata` or `none`; prompt
extraction on or off; bodies above `max_body_bytes` are cut with an explicit marker; secrets are
redacted unless `capture_secrets`. `build_bundle` never touches the disk.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable

import msgspec

from cal.capture.model import SCHEMA_VERSION, Attempt, Exchange, Header, StreamEvent
from cal.capture.prompts import Prompt, extract_prompts
from cal.capture.records import error_record, usage_record
from cal.capture.redact import (
    redact_bytes,
    redact_headers,
    redact_many,
    redact_query,
    redact_text,
    redact_url,
)
from cal.config import Settings

MANIFEST_NAME = "prompt.index.json"


class Artifact(msgspec.Struct, frozen=True):
    """One file of a bundle and what the manifest says about it."""

    name: str
    data: bytes
    truncated: bool = False
    original_bytes: int | None = None
    """Size before the cut, when `truncated`."""
    redacted: bool = False
    """Secrets were replaced in this file (the bytes differ from the wire)."""


class Omitted(msgspec.Struct, frozen=True):
    """A body the policy kept out of the bundle: its size and hash only."""

    name: str
    bytes: int
    sha256: str
    reason: str


class Bundle(msgspec.Struct):
    """Every file of one request's bundle; `manifest` is `prompt.index.json`'s bytes."""

    files: list[Artifact]
    prompts: list[Prompt]
    manifest: bytes

    @property
    def total_bytes(self) -> int:
        """Bytes of every file, the manifest included."""
        return sum(len(f.data) for f in self.files) + len(self.manifest)


_JSON = msgspec.json.Encoder()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode_json(value: object) -> bytes:
    """Indented JSON (artifacts are read by people), newline-terminated."""
    return msgspec.json.format(_JSON.encode(value), indent=2) + b"\n"


class _EventLine(msgspec.Struct):
    """One line of a stream file (docs/artifact-format.md), fields in their documented order."""

    schema_version: int
    event_index: int
    t_ms: float
    bytes: int
    sha256: str
    data: str | msgspec.UnsetType = msgspec.UNSET
    data_b64: str | msgspec.UnsetType = msgspec.UNSET


class _Builder:
    """Collects the files of one bundle under one policy."""

    def __init__(self, settings: Settings, on_file: Callable[[Artifact, str], None]) -> None:
        self.settings = settings
        self.secrets = settings.capture_secrets
        self.files: list[Artifact] = []
        self.omitted: list[Omitted] = []
        self.on_file = on_file
        self._clean: dict[int, tuple[bytes, bytes]] = {}
        self._hashes: dict[int, tuple[bytes, str]] = {}
        self._streams: dict[int, tuple[list[StreamEvent], Artifact]] = {}

    def add(self, artifact: Artifact) -> None:
        self.files.append(artifact)
        self.on_file(artifact, self.sha256(artifact.data))

    def redacted(self, data: bytes) -> bytes:
        """`data` redacted (once per distinct body object: the same body often appears twice)."""
        if self.secrets:
            return data
        cached = self._clean.get(id(data))
        if cached is None or cached[0] is not data:
            cached = (data, redact_bytes(data))
            self._clean[id(data)] = cached
        return cached[1]

    def sha256(self, data: bytes) -> str:
        """sha256 of `data` (once per distinct object: one body is often two files)."""
        cached = self._hashes.get(id(data))
        if cached is None or cached[0] is not data:
            cached = (data, sha256_hex(data))
            self._hashes[id(data)] = cached
        return cached[1]

    def json(self, name: str, value: dict[str, object]) -> None:
        self.add(Artifact(name, encode_json({"schema_version": SCHEMA_VERSION, **value})))

    def headers(self, name: str, headers: list[Header], **extra: object) -> None:
        level = self.settings.capture_headers
        if level == "none":
            return
        if level == "metadata":
            shown: list[tuple[str, str | None]] = [(k, None) for k, _ in headers]
        else:
            shown = list(headers if self.secrets else redact_headers(headers))
        self.json(name, {**extra, "level": level, "headers": shown})

    def body(self, name: str, data: bytes | None) -> None:
        if data is None or self.settings.capture_bodies == "none":
            return
        clean = self.redacted(data)
        redacted, data = clean is not data and clean != data, clean
        if self.settings.capture_bodies == "metadata":
            reason = "capture_bodies=metadata"
            self.omitted.append(Omitted(name, len(data), self.sha256(data), reason))
            return
        limit = self.settings.max_body_bytes
        if limit > 0 and len(data) > limit:
            self.add(Artifact(name, data[:limit], True, len(data), redacted))
            self.json(
                name + ".truncated.json",
                {
                    "file": name,
                    "original_bytes": len(data),
                    "original_sha256": self.sha256(data),
                    "kept_bytes": limit,
                    "reason": f"larger than max_body_bytes={limit}",
                },
            )
        else:
            self.add(Artifact(name, data, redacted=redacted))

    def events(self, name: str, events: list[StreamEvent]) -> None:
        level = self.settings.capture_stream_events
        if level == "none" or not events:
            return
        seen = self._streams.get(id(events))
        if seen is not None and seen[0] is events:  # pass-through: client events are the raw ones
            done = seen[1]
            self.add(Artifact(name, done.data, done.truncated, done.original_bytes, done.redacted))
            return
        datas = [event.data for event in events]
        cleaned = datas if self.secrets else redact_many(datas)
        redacted = cleaned is not datas and cleaned != datas
        with_data = level == "all"
        records = [
            _event_line(index, event.t_ms, data, with_data=with_data)
            for index, (event, data) in enumerate(zip(events, cleaned, strict=True))
        ]
        data = _JSON.encode_lines(records)
        limit = self.settings.max_body_bytes
        if limit > 0 and len(data) > limit:
            artifact = Artifact(name, _cut_lines(records, limit), True, None, redacted)
        else:
            artifact = Artifact(name, data, redacted=redacted)
        self._streams[id(events)] = (events, artifact)
        self.add(artifact)


def _event_line(index: int, t_ms: float, data: bytes, *, with_data: bool) -> _EventLine:
    line = _EventLine(SCHEMA_VERSION, index, round(t_ms, 3), len(data), sha256_hex(data))
    if with_data:
        try:
            line.data = data.decode("utf-8")
        except UnicodeDecodeError:
            line.data_b64 = base64.b64encode(data).decode("ascii")
    return line


def _cut_lines(records: list[_EventLine], limit: int) -> bytes:
    """The lines that fit in `limit` bytes, then the truncation marker line."""
    lines: list[bytes] = []
    size = 0
    for index, record in enumerate(records):
        line = _JSON.encode(record) + b"\n"
        if size + len(line) > limit:
            lines.append(_cut_line(index, len(records), limit))
            break
        lines.append(line)
        size += len(line)
    return b"".join(lines)


def _cut_line(index: int, total: int, limit: int) -> bytes:
    marker = {
        "schema_version": SCHEMA_VERSION,
        "truncated": True,
        "events_total": total,
        "events_kept": index,
        "reason": f"larger than max_body_bytes={limit}",
    }
    return _JSON.encode(marker) + b"\n"


def attempt_prefix(attempt: Attempt, last: bool) -> str:
    """`""` for the final attempt, `attempt.{n}.` (1-based) for earlier ones."""
    return "" if last else f"attempt.{attempt.index + 1}."


def _attempt_files(build: _Builder, exchange: Exchange, attempt: Attempt, last: bool) -> None:
    prefix = attempt_prefix(attempt, last) + "upstream."
    url = attempt.url if build.secrets else redact_url(attempt.url)
    build.json(
        prefix + "request.url.json",
        {
            "attempt": attempt.index + 1,
            "attempts": len(exchange.attempts),
            "endpoint": attempt.endpoint,
            "upstream_format": attempt.upstream_format,
            "method": "POST",
            "url": url,
            "credential_id": attempt.credential_id,
            "started_ms": attempt.started_ms,
            "ttfb_ms": attempt.ttfb_ms,
            "duration_ms": attempt.duration_ms,
            "reason": attempt.reason,
        },
    )
    build.headers(prefix + "request.headers.json", attempt.request_headers)
    body = attempt.request_body
    if body is None:
        body = exchange.transform_output or exchange.client_body
    build.body(prefix + "request.body.raw", body)
    if attempt.status is not None:
        build.headers(
            prefix + "response.headers.json", attempt.response_headers, status=attempt.status
        )
    build.body(prefix + "response.body.raw", attempt.response_body)


def _ingress_files(build: _Builder, exchange: Exchange) -> None:
    query = exchange.query if build.secrets else redact_query(exchange.query)
    build.headers(
        "ingress.request.headers.json",
        exchange.client_headers,
        method=exchange.method,
        path=exchange.path,
        query=query,
    )
    build.body("ingress.request.body.raw", exchange.client_body)
    build.body("transform.request.input.raw", exchange.transform_input)
    build.body("transform.request.output.raw", exchange.transform_output)


def _response_files(build: _Builder, exchange: Exchange) -> None:
    if exchange.status is not None:
        build.headers(
            "upstream.response.transformed.headers.json",
            exchange.response_headers,
            status=exchange.status,
        )
    build.body("upstream.response.transformed.raw", exchange.response_body)
    build.events("stream.raw.events.jsonl", exchange.raw_events)
    build.events("stream.transformed.events.jsonl", exchange.client_events)


def bundle_prompts(
    exchange: Exchange, settings: Settings, redacted: Callable[[bytes], bytes] | None = None
) -> list[Prompt]:
    """The prompts of the client's request (redacted unless capture_secrets)."""
    if not settings.prompt_extract or settings.capture_bodies != "all":
        return []
    body = exchange.client_body
    if not settings.capture_secrets:
        body = (redacted or redact_bytes)(body)
    return extract_prompts(exchange.client_format, body)


def _keep(artifact: Artifact, sha256: str) -> None:
    return None


def build_bundle(
    exchange: Exchange, settings: Settings, *, on_file: Callable[[Artifact, str], None] = _keep
) -> Bundle:
    """Every artifact of `exchange` under the capture policy of `settings`, and the manifest.

    `on_file` gets each artifact as soon as it is complete (the writer puts it on disk there and
    then, so its thread lets go of the GIL between artifacts without yielding on purpose).
    """
    build = _Builder(settings, on_file)
    _ingress_files(build, exchange)
    prompts = bundle_prompts(exchange, settings, build.redacted)
    for prompt in prompts:
        build.add(Artifact(prompt.file_name, prompt.text.encode("utf-8")))
    for position, attempt in enumerate(exchange.attempts):
        _attempt_files(build, exchange, attempt, position == len(exchange.attempts) - 1)
    _response_files(build, exchange)
    build.json("usage.json", usage_record(exchange))
    if (error := error_record(exchange, build.secrets)) is not None:
        build.json("error.json", error)
    manifest = encode_json(_manifest(exchange, settings, build, prompts))
    return Bundle(build.files, prompts, manifest)


def _manifest(
    exchange: Exchange, settings: Settings, build: _Builder, prompts: Iterable[Prompt]
) -> dict[str, object]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": exchange.run_id,
        "request_id": exchange.request_id,
        "trace_id": exchange.trace_id,
        "span_id": exchange.span_id,
        "parent_span_id": exchange.parent_span_id,
        "obs_ref": exchange.obs_ref,
        "request": _summary(exchange, build.secrets),
        "capture": {
            "headers": settings.capture_headers,
            "bodies": settings.capture_bodies,
            "stream_events": settings.capture_stream_events,
            "secrets": settings.capture_secrets,
            "prompt_extract": settings.prompt_extract,
            "max_body_bytes": settings.max_body_bytes,
        },
        "prompts": [
            {"role": p.role, "index": p.index, "file": p.file_name, "chars": len(p.text)}
            for p in prompts
        ],
        "files": [_file_entry(f, build.sha256(f.data)) for f in build.files],
        "omitted": [msgspec.to_builtins(o) for o in build.omitted],
    }


def _file_entry(artifact: Artifact, sha256: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": artifact.name,
        "bytes": len(artifact.data),
        "sha256": sha256,
    }
    if artifact.truncated:
        entry["truncated"] = True
        if artifact.original_bytes is not None:
            entry["original_bytes"] = artifact.original_bytes
    if artifact.redacted:
        entry["redacted"] = True
    return entry


def _summary(exchange: Exchange, secrets: bool) -> dict[str, object]:
    return {
        "started_at": exchange.started_at,
        "method": exchange.method,
        "path": exchange.path,
        "query": exchange.query if secrets else redact_query(exchange.query),
        "client_format": exchange.client_format,
        "upstream_format": exchange.upstream_format,
        "route": exchange.route,
        "source_tag": exchange.source_tag,
        "client_name": exchange.client_name,
        "session_id": exchange.session_id,
        "model": exchange.model,
        "endpoint": exchange.endpoint,
        "stream": exchange.stream,
        "status": exchange.status,
        "attempts": len(exchange.attempts),
        "ttfb_ms": exchange.ttfb_ms,
        "duration_ms": exchange.duration_ms,
        "error_kind": exchange.error.kind if exchange.error else None,
        "notes": [n if secrets else redact_text(n) for n in exchange.notes],
    }
