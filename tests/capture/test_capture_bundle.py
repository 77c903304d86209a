"""Bundles: the artifact set, the manifest, capture policy levels and truncation markers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import msgspec
from capture_samples import OPENAI_KEY, SECRETS

from cal.capture.bundle import MANIFEST_NAME, Bundle, build_bundle
from cal.capture.model import Exchange
from cal.config import Settings


def _files(bundle: Bundle) -> dict[str, bytes]:
    return {f.name: f.data for f in bundle.files}


def _manifest(bundle: Bundle) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.json.decode(bundle.manifest)
    return data


def test_full_capture_writes_every_artifact(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    bundle = build_bundle(make_exchange(), make_settings())
    files = _files(bundle)
    assert set(files) >= {
        "ingress.request.headers.json",
        "ingress.request.body.raw",
        "prompt.system.txt",
        "prompt.user.txt",
        "prompt.user.2.txt",
        "prompt.assistant.txt",
        "upstream.request.url.json",
        "upstream.request.headers.json",
        "upstream.request.body.raw",
        "upstream.response.headers.json",
        "upstream.response.transformed.headers.json",
        "stream.raw.events.jsonl",
        "stream.transformed.events.jsonl",
        "usage.json",
    }
    assert "error.json" not in files
    manifest = _manifest(bundle)
    assert manifest["schema_version"] == 1
    assert manifest["obs_ref"] == f"{manifest['trace_id']}/{manifest['request_id']}"
    names = [f["name"] for f in manifest["files"]]
    assert sorted(names) == sorted(files) and len(set(names)) == len(names)
    assert MANIFEST_NAME not in names
    for entry in manifest["files"]:
        data = files[entry["name"]]
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert [p["file"] for p in manifest["prompts"]] == [
        "prompt.system.txt",
        "prompt.user.txt",
        "prompt.assistant.txt",
        "prompt.user.2.txt",
    ]
    for name, data in files.items():
        if name.endswith(".json"):
            assert msgspec.json.decode(data)["schema_version"] == 1, name
        if name.endswith(".jsonl"):
            for line in data.splitlines():
                assert msgspec.json.decode(line)["schema_version"] == 1
    usage = msgspec.json.decode(files["usage.json"])
    assert usage["source"] == "upstream" and usage["input_tokens"] == 10


def test_stream_events_carry_times_and_exact_bytes(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    exchange = make_exchange()
    settings = make_settings(capture_secrets=True)
    lines = _files(build_bundle(exchange, settings))["stream.raw.events.jsonl"].splitlines()
    records = [msgspec.json.decode(line) for line in lines]
    assert [r["t_ms"] for r in records] == [12.5, 20.0, 31.25]
    for record, event in zip(records, exchange.raw_events, strict=True):
        assert record["data"].encode() == event.data
        assert record["sha256"] == hashlib.sha256(event.data).hexdigest()


def test_secrets_redacted_everywhere_unless_enabled(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    exchange = make_exchange()
    redacted = build_bundle(exchange, make_settings())
    blob = redacted.manifest + b"".join(f.data for f in redacted.files)
    for secret in SECRETS:
        assert secret.encode() not in blob, secret
    entries = {f["name"]: f for f in _manifest(redacted)["files"]}
    assert entries["ingress.request.body.raw"]["redacted"] is True
    kept = build_bundle(exchange, make_settings(capture_secrets=True))
    files = _files(kept)
    assert files["ingress.request.body.raw"] == exchange.client_body
    assert OPENAI_KEY.encode() in files["prompt.user.2.txt"]


def test_retries_are_kept_per_attempt_with_error_bodies(
    make_settings: Callable[..., Settings], make_failed_exchange: Callable[..., Exchange]
) -> None:
    files = _files(build_bundle(make_failed_exchange(), make_settings()))
    first = msgspec.json.decode(files["attempt.1.upstream.request.url.json"])
    assert first["attempt"] == 1 and first["endpoint"] == "a" and first["attempts"] == 2
    assert b"overloaded_error" in files["attempt.1.upstream.response.body.raw"]
    final = msgspec.json.decode(files["upstream.request.url.json"])
    assert final["endpoint"] == "b" and final["reason"] == "failover"
    error = msgspec.json.decode(files["error.json"])
    assert error["kind"] == "connect" and error["status"] == 502
    assert [a["attempt"] for a in error["attempts"]] == [1, 2]
    assert "sk-ant-api03-..." in error["attempts"][1]["message"]
    assert b"bad gateway" in files["upstream.response.transformed.raw"]


def test_metadata_level_keeps_names_sizes_and_hashes_only(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(
        capture_headers="metadata", capture_bodies="metadata", capture_stream_events="metadata"
    )
    bundle = build_bundle(make_exchange(), settings)
    files = _files(bundle)
    assert not any(name.endswith(".raw") or name.startswith("prompt.") for name in files)
    headers = msgspec.json.decode(files["ingress.request.headers.json"])
    assert headers["level"] == "metadata"
    assert all(value is None for _, value in headers["headers"])
    event = msgspec.json.decode(files["stream.raw.events.jsonl"].splitlines()[0])
    assert "data" not in event and event["bytes"] > 0
    omitted = {o["name"]: o for o in _manifest(bundle)["omitted"]}
    assert omitted["ingress.request.body.raw"]["reason"] == "capture_bodies=metadata"


def test_none_level_and_prompt_extract_off(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(
        capture_headers="none", capture_bodies="none", capture_stream_events="none"
    )
    files = _files(build_bundle(make_exchange(), settings))
    assert set(files) == {"upstream.request.url.json", "usage.json"}
    no_prompts = _files(build_bundle(make_exchange(), make_settings(prompt_extract=False)))
    assert not any(name.startswith("prompt.") for name in no_prompts)


def test_bodies_above_the_limit_are_cut_with_a_marker(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    exchange = make_exchange()
    settings = make_settings(max_body_bytes=100, capture_secrets=True)
    bundle = build_bundle(exchange, settings)
    files = _files(bundle)
    assert files["ingress.request.body.raw"] == exchange.client_body[:100]
    marker = msgspec.json.decode(files["ingress.request.body.raw.truncated.json"])
    assert marker["original_bytes"] == len(exchange.client_body)
    assert marker["original_sha256"] == hashlib.sha256(exchange.client_body).hexdigest()
    entry = next(f for f in _manifest(bundle)["files"] if f["name"] == "ingress.request.body.raw")
    assert entry["truncated"] is True and entry["original_bytes"] == len(exchange.client_body)
    lines = files["stream.raw.events.jsonl"].splitlines()
    assert msgspec.json.decode(lines[-1])["truncated"] is True
