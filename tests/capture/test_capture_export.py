"""Export: a request, a session or a run as zip/tar.gz of manifest files, a session as LHAR."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import trio
from capture_samples import SECRETS

from cal.capture.model import Exchange
from cal.capture.writer import CaptureWriter
from cal.config import Settings
from cal.obs.export import ExportError, export_bundles


async def _captured(settings: Settings, exchanges: list[Exchange]) -> None:
    writer = CaptureWriter(settings)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run, stop)
        for exchange in exchanges:
            assert writer.submit_nowait(exchange)
        stop.set()


@pytest.fixture
def settings(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> Settings:
    made = make_settings()
    trio.run(
        _captured,
        made,
        [
            make_exchange(
                request_id="a1",
                session_id="s1",
                run_id="run_x",
                stream=False,
                response_body=b'{"model":"m","stop_reason":"end_turn"}',
            ),
            make_exchange(request_id="a2", session_id="s1", run_id="run_x"),
            make_exchange(request_id="b1", session_id="s2", run_id="run_y"),
        ],
    )
    return made


def test_zip_of_a_session_holds_exactly_the_manifest_files(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "s1.zip"
    result = export_bundles(settings, session_id="s1", output=out, fmt="zip")
    assert (result.requests, result.bundles, result.missing) == (2, 2, [])
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        index = msgspec.json.decode(archive.read("export.json"))
        assert [r["request_id"] for r in index["requests"]] == ["a1", "a2"]
        for row in index["requests"]:
            manifest = msgspec.json.decode(archive.read(f"{row['bundle_path']}/prompt.index.json"))
            listed = {f"{row['bundle_path']}/{f['name']}" for f in manifest["files"]}
            assert listed <= set(names)
        blob = b"".join(archive.read(n) for n in names)
    assert result.files == len(names) - 1
    for secret in SECRETS:
        assert secret.encode() not in blob
    assert not list(out.parent.glob(".*partial"))


def test_tar_of_a_run_and_of_one_request(settings: Settings, tmp_path: Path) -> None:
    result = export_bundles(settings, run_id="run_y", output=tmp_path / "r.tar.gz", fmt="tar")
    assert result.requests == 1
    with tarfile.open(tmp_path / "r.tar.gz") as archive:
        assert any(n.endswith("b1/prompt.index.json") for n in archive.getnames())
    one = export_bundles(settings, request_id="a2", output=tmp_path / "a2.zip")
    assert (one.requests, one.bundles) == (1, 1)


def test_lhar_of_a_session(settings: Settings, tmp_path: Path) -> None:
    out = tmp_path / "s1.lhar"
    result = export_bundles(settings, session_id="s1", output=out, fmt="lhar")
    assert result.requests == 2
    session, *entries = [msgspec.json.decode(line) for line in out.read_bytes().splitlines()]
    assert session["type"] == "session" and session["tool"] == "Claude Code"
    assert [e["sequence"] for e in entries] == [1, 2]
    first = entries[0]
    assert first["type"] == "entry" and first["trace_id"] == session["trace_id"]
    assert first["gen_ai"]["system"] == "anthropic"
    assert first["gen_ai"]["request"]["model"] == "claude-opus-5-5"
    assert first["gen_ai"]["response"]["finish_reasons"] == ["end_turn"]
    assert first["gen_ai"]["usage"] == {"input_tokens": 10, "output_tokens": 3, "total_tokens": 13}
    assert first["http"]["request_headers"]["user-agent"].startswith("claude-cli/")
    assert first["raw"]["request_body"]["max_tokens"] == 1024
    assert first["timings"]["total_ms"] == 33.0
    for secret in SECRETS:
        assert secret.encode() not in out.read_bytes()


def test_bad_selections(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="choose what to export"):
        export_bundles(settings, output=tmp_path / "x.zip")
    with pytest.raises(ExportError, match="no captured request"):
        export_bundles(settings, session_id="nobody", output=tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
