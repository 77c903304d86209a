"""The capture worker process: the same bundles as the thread, loud failures, Ctrl-C ignored."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import trio

from cal.capture.engines import CaptureWorkerError, WorkerProcess, worker_command
from cal.capture.model import Exchange
from cal.capture.worker import hand, unhand
from cal.capture.writer import CaptureWriter
from cal.config import Settings


def _command() -> list[str]:
    command = worker_command()
    assert command is not None
    return command


async def _write_all(writer: CaptureWriter, exchanges: list[Exchange]) -> None:
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            for exchange in exchanges:
                assert writer.submit_nowait(exchange)
            stop.set()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _rows(db_path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT * FROM requests ORDER BY request_id").fetchall()
        rows += conn.execute("SELECT * FROM request_prompts ORDER BY request_id").fetchall()
    return rows


async def test_the_worker_writes_what_the_thread_writes(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    make_exchange: Callable[..., Exchange],
    make_failed_exchange: Callable[..., Exchange],
) -> None:
    exchanges = [make_exchange(), make_failed_exchange(), make_exchange(stream=False)]
    trees, rows = [], []
    for process in (True, False):
        settings = make_settings(data_dir=tmp_path / str(process))
        writer = CaptureWriter(settings, process=process)
        await _write_all(writer, exchanges)
        assert (writer.statistics().written, writer.statistics().failed) == (3, 0)
        trees.append(_tree(settings.dump_dir))
        rows.append(_rows(settings.db_path))
    assert len(trees[0]) > 40
    assert trees[0] == trees[1]
    assert rows[0] == rows[1] and len(rows[0]) == 6


async def test_a_worker_that_cannot_start_fails_the_writer_loudly(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    settings.db_path.mkdir(parents=True)  # a directory where the database should be
    writer = CaptureWriter(settings, process=True)
    with trio.fail_after(30), pytest.raises(CaptureWorkerError, match="cannot start"):
        await writer.run(trio.Event())


async def test_a_worker_that_dies_is_an_error_with_its_exit_code(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    worker = WorkerProcess(make_settings(), _command())
    with trio.fail_after(30):
        await worker.open()
        assert (await worker.write([make_exchange()])).written == 1
        assert worker._process is not None
        worker._process.kill()
        with pytest.raises(CaptureWorkerError, match="exited"):
            await worker.write([make_exchange()])
        await worker.close(5)


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
async def test_ctrl_c_and_sigterm_leave_the_worker_to_finish(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    worker = WorkerProcess(make_settings(), _command())
    with trio.fail_after(30):
        await worker.open()
        assert worker._process is not None
        worker._process.send_signal(signal.SIGINT)
        worker._process.send_signal(signal.SIGTERM)
        assert (await worker.write([make_exchange()])).written == 1
        await worker.close(10)
    assert worker._process.returncode == 0


async def test_an_exchange_that_cannot_be_handed_over_fails_alone(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    worker = WorkerProcess(make_settings(), _command())
    odd = make_exchange(request_id="odd")
    odd.notes = [object()]  # type: ignore[list-item]
    with trio.fail_after(30):
        await worker.open()
        result = await worker.write([make_exchange(), odd, make_exchange()])
        await worker.close(10)
    assert (result.written, result.failed) == (2, 1)
    assert "odd" in result.errors[0]


def test_the_worker_is_started_with_this_interpreter() -> None:
    assert _command()[:3] == [sys.executable, "-m", "cal.capture.worker"]


def test_what_an_exchange_holds_twice_is_handed_over_once_and_stays_one_object(
    make_exchange: Callable[..., Exchange],
) -> None:
    exchange = make_exchange()
    body = exchange.client_body
    exchange.transform_input = body
    exchange.attempts[0].request_body = body
    exchange.attempts[0].response_body = exchange.response_body = b'{"answer": 1}'
    exchange.client_events = exchange.raw_events
    handed = hand(exchange, msgspec.msgpack.encode)
    assert bytes(handed.exchange).count(body) == 1
    assert len(handed.same) == 4
    back = unhand(handed, msgspec.msgpack.Decoder(Exchange).decode)
    assert back == exchange
    assert back.transform_input is back.client_body is back.attempts[0].request_body
    assert back.response_body is back.attempts[0].response_body
    assert back.client_events is back.raw_events
    assert exchange.transform_input is body and exchange.client_events  # the original is intact
