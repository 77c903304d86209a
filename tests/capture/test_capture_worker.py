"""The capture worker process: the same bundles as the thread, loud failures, Ctrl-C ignored."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import psutil
import pytest
import trio
from capture_samples import write_all

from cal.capture.engines import CaptureWorkerError, WorkerProcess, start_engine, worker_command
from cal.capture.model import Exchange
from cal.capture.wire import hand, unhand
from cal.capture.writer import CaptureWriter
from cal.config import Settings


def _command() -> list[str]:
    command = worker_command()
    assert command is not None
    return command


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
        await write_all(writer, exchanges)
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
    expected = pytest.RaisesExc(CaptureWorkerError, match="cannot start")
    with trio.fail_after(30), pytest.RaisesGroup(expected, flatten_subgroups=True):
        await writer.run(trio.Event())


def _worker() -> psutil.Process:
    (child,) = [
        p for p in psutil.Process().children() if "cal.capture.worker" in " ".join(p.cmdline())
    ]
    return child


async def _until_written(writer: CaptureWriter, count: int) -> None:
    while writer.statistics().written + writer.statistics().failed < count:  # noqa: ASYNC110
        await trio.sleep(0.01)


async def test_a_worker_that_dies_fails_the_writer_with_its_exit_code(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    writer = CaptureWriter(make_settings(), process=True)
    expected = pytest.RaisesExc(CaptureWorkerError, match=r"exited \(code -9\)")
    with trio.fail_after(30), pytest.RaisesGroup(expected, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, trio.Event())
            writer.submit_nowait(make_exchange())
            await _until_written(writer, 1)
            _worker().kill()
            await trio.sleep_forever()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
async def test_ctrl_c_and_sigterm_leave_the_worker_to_finish(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    writer = CaptureWriter(make_settings(), process=True)
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            writer.submit_nowait(make_exchange())
            await _until_written(writer, 1)
            worker = _worker()
            worker.send_signal(signal.SIGINT)
            worker.send_signal(signal.SIGTERM)
            writer.submit_nowait(make_exchange())
            await _until_written(writer, 2)
            stop.set()
    assert writer.statistics().written == 2  # the second one came after the signals
    assert not worker.is_running()  # and it stopped with the writer


async def test_an_exchange_that_cannot_be_handed_over_fails_alone(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    writer = CaptureWriter(make_settings(), process=True)
    odd = make_exchange(request_id="odd")
    odd.notes = [object()]  # type: ignore[list-item]
    await write_all(writer, [make_exchange(), odd, make_exchange()])
    stats = writer.statistics()
    assert (stats.written, stats.failed, stats.dropped) == (2, 1, 0)
    assert stats.last_error is not None and "odd" in stats.last_error


async def test_a_burst_waits_in_the_spool_and_nothing_is_dropped(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(shutdown_grace_s=30.0)
    writer = CaptureWriter(settings, process=True)
    stop = trio.Event()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            for _ in range(1000):
                assert writer.submit_nowait(make_exchange())
            await trio.sleep(0.2)  # the whole burst has left the runtime for the worker's spool
            assert writer._receive.statistics().current_buffer_used == 0
            assert writer.statistics().queued > 0
            await _until_written(writer, 1000)
            stop.set()
    stats = writer.statistics()
    assert (stats.written, stats.dropped, stats.queued) == (1000, 0, 0)
    assert not (settings.data_dir / "capture.spool").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="F_SETPIPE_SZ is Linux's")
async def test_the_worker_has_a_wide_pipe_and_a_lower_cpu_priority(
    make_settings: Callable[..., Settings],
) -> None:
    import fcntl

    from cal.capture.worker import NICENESS

    engine = start_engine(make_settings(), process=True)
    assert isinstance(engine, WorkerProcess)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await engine.open(nursery, lambda result: None, lambda count: None)
            stdin = engine._process.stdin if engine._process is not None else None
            assert isinstance(stdin, trio.lowlevel.FdStream)
            size = fcntl.fcntl(stdin.fileno(), fcntl.F_GETPIPE_SZ)
            assert engine._process is not None
            niceness = psutil.Process(engine._process.pid).nice() - psutil.Process().nice()
            await engine.close(10)
    limit = int(await trio.Path("/proc/sys/fs/pipe-max-size").read_text())
    assert niceness == min(NICENESS, 19 - psutil.Process().nice())  # 19: the lowest priority
    if limit >= 1 << 20:  # else the OS refuses an unprivileged user, and 64 KiB stays
        assert size == 1 << 20


def test_the_inbox_keeps_what_waits_in_memory_up_to_its_budget_then_in_the_spool(
    tmp_path: Path,
) -> None:
    import io

    from cal.capture.wire import Prune, Write, frame
    from cal.capture.worker import Inbox

    encode = msgspec.msgpack.encode
    requests = [(Write(2), [b"a" * 300, b""]), (Prune(1.0, None), []), (Write(1), [b"c" * 700])]
    requests += [(Write(1), [bytes([i]) * 100]) for i in range(5)]
    stream = io.BytesIO(
        b"".join(
            frame(encode(r)) + b"".join(frame(item) for item in items) for r, items in requests
        )
    )
    spool = tmp_path / "capture.spool"
    inbox = Inbox(stream, spool, lambda count: None, memory_bytes=1000)
    inbox._thread.join(10)
    assert 700 < spool.stat().st_size < 800  # only the third request did not fit in 1,000 bytes
    taken = []
    while (got := inbox.next()) is not None:
        taken.append(([bytes(body) for body in got[0]], got[1]))
    assert taken == [
        ([encode(r), *items], r.count if isinstance(r, Write) else 0) for r, items in requests
    ]
    assert inbox.waiting() == 0
    inbox.close()
    assert not spool.exists()


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
