"""`cal obs export`: a recorded request written by the real capture writer, exported."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from cal.capture.model import Exchange
from cal.capture.writer import CaptureWriter
from cal.cli import run
from cal.config import Settings


async def _record_one(settings: Settings) -> Exchange:
    exchange = Exchange(
        request_id="req_export0000000000000001",
        trace_id="ab" * 16,
        span_id="cd" * 8,
        run_id="run_export",
        started_at=time.time(),
        method="POST",
        path="/v1/messages",
        query="",
        client_format="anthropic",
        client_headers=[("content-type", "application/json")],
        client_body=b'{"model":"m","messages":[{"role":"user","content":"export me"}]}',
        session_id="session-1",
        status=200,
        response_body=b'{"type":"message","content":[]}',
    )
    writer = CaptureWriter(settings, current_run="run_export")
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run, stop)
        assert writer.submit_nowait(exchange)
        with trio.fail_after(10):
            while writer.statistics().written < 1:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.01)
        stop.set()
    return exchange


async def test_export_a_run_as_zip_and_a_session_as_lhar(
    make_settings: Callable[..., Settings], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    await _record_one(settings)
    archive = tmp_path / "run.zip"
    code = run(
        [
            "obs",
            "export",
            "--run",
            "run_export",
            "-o",
            str(archive),
            "--data-dir",
            str(settings.data_dir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "1 requests" in capsys.readouterr().out
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
    assert any(n.endswith("ingress.request.body.raw") for n in names)
    assert any(n.endswith("prompt.index.json") for n in names)

    lhar = tmp_path / "session.lhar"
    code = run(
        [
            "obs",
            "export",
            "--session",
            "session-1",
            "--format",
            "lhar",
            "-o",
            str(lhar),
            "--data-dir",
            str(settings.data_dir),
        ]
    )
    assert code == 0
    assert b"export me" in lhar.read_bytes()


def test_export_needs_a_selection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["obs", "export", "-o", str(tmp_path / "x.zip"), "--data-dir", str(tmp_path)]) == 1
    assert "--request" in capsys.readouterr().err
