"""The writer service: nothing lost, drops counted, secrets never on disk, no half-written bundle."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import trio
import trio.lowlevel
from capture_samples import SECRETS

from cal.capture import disk
from cal.capture.bundle import Artifact, Bundle, build_bundle
from cal.capture.model import Exchange
from cal.capture.writer import CaptureWriter
from cal.config import Settings
from cal.store.db import Database
from cal.store.requests import RequestFilter, count_requests, get_request, list_requests


async def _run_until_written(writer: CaptureWriter, count: int, submit: Callable[[], None]) -> None:
    """Start the writer, submit, stop it at once: the stop drains what is queued."""
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            submit()
            stop.set()
    stats = writer.statistics()
    assert stats.written + stats.failed == count


def _bundle_dirs(settings: Settings) -> list[Path]:
    return [p.parent for p in (settings.dump_dir / "runs").glob("*/traces/*/*/prompt.index.json")]


async def test_500_concurrent_exchanges_become_500_bundles_and_rows(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(shutdown_grace_s=20.0)
    writer = CaptureWriter(settings)
    exchanges = [make_exchange() for _ in range(500)]

    async def submit_all() -> None:
        async def one(exchange: Exchange) -> None:
            await trio.lowlevel.checkpoint()
            assert writer.submit_nowait(exchange)

        async with trio.open_nursery() as nursery:
            for exchange in exchanges:
                nursery.start_soon(one, exchange)

    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            await submit_all()
            stop.set()  # the writer drains the queue before it returns
    stats = writer.statistics()
    assert (stats.written, stats.dropped, stats.failed, stats.queued) == (500, 0, 0, 0)
    assert stats.bytes_written > 0
    assert len(_bundle_dirs(settings)) == 500
    db = Database.open(settings.db_path)
    with db.read() as conn:
        assert count_requests(conn) == 500
        row = get_request(conn, exchanges[0].request_id)
    db.close()
    assert row is not None and row.bundle_path is not None
    assert (settings.dump_dir / row.bundle_path / "prompt.index.json").is_file()
    jsonl = (settings.dump_dir / "runs" / exchanges[0].run_id / "requests.jsonl").read_bytes()
    assert len(jsonl.splitlines()) == 500
    assert not (settings.dump_dir / disk.IN_PROGRESS).exists()  # a clean stop: nothing to check


async def test_a_full_channel_counts_drops_and_never_blocks(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    writer = CaptureWriter(make_settings(), capacity=3)
    accepted = [writer.submit_nowait(make_exchange()) for _ in range(5)]
    assert accepted == [True, True, True, False, False]
    assert writer.statistics().dropped == 2 and writer.statistics().queued == 3
    await _run_until_written(writer, 3, lambda: None)
    assert writer.statistics().written == 3
    assert writer.submit_nowait(make_exchange()) is False  # stopped: counted too
    assert writer.statistics().dropped == 3


async def test_no_secret_reaches_any_file_of_the_data_dir(
    make_settings: Callable[..., Settings],
    make_exchange: Callable[..., Exchange],
    make_failed_exchange: Callable[..., Exchange],
) -> None:
    settings = make_settings()
    writer = CaptureWriter(settings)
    batch = [make_exchange(), make_failed_exchange(), make_exchange(stream=False)]
    await _run_until_written(writer, 3, lambda: [writer.submit_nowait(e) for e in batch] and None)
    assert writer.statistics().written == 3
    files = [p for p in settings.data_dir.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") for p in files)
    assert len(files) > 40
    for path in files:
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, (path, secret)
            assert secret[8:28].encode() not in data, (path, secret)


async def test_secrets_are_kept_when_capture_secrets_is_on(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(capture_secrets=True)
    writer = CaptureWriter(settings)
    exchange = make_exchange()
    await _run_until_written(writer, 1, lambda: writer.submit_nowait(exchange) and None)
    (bundle,) = _bundle_dirs(settings)
    headers = (bundle / "ingress.request.headers.json").read_bytes()
    assert SECRETS[0].encode() in headers
    assert (bundle / "ingress.request.body.raw").read_bytes() == exchange.client_body


async def test_dump_disabled_still_indexes(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings(dump_enabled=False)
    writer = CaptureWriter(settings)
    exchange = make_exchange()
    await _run_until_written(writer, 1, lambda: writer.submit_nowait(exchange) and None)
    assert not settings.dump_dir.exists()
    db = Database.open(settings.db_path)
    with db.read() as conn:
        rows, total = list_requests(conn, RequestFilter(text="hello there"))
    db.close()
    assert total == 1 and rows[0].bundle_path is None and rows[0].prompt_count == 4


def test_a_failed_write_leaves_nothing_behind(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings()
    exchange = make_exchange()
    good = build_bundle(exchange, settings)
    bad = Bundle([*good.files, Artifact("../escape", b"x")], good.prompts, good.manifest)
    rel = disk.bundle_rel_path(exchange)
    with pytest.raises(ValueError, match="unsafe artifact name"):
        disk.write_bundle(settings.dump_dir, rel, bad)
    assert not (settings.dump_dir / rel).exists()
    disk.write_bundle(settings.dump_dir, rel, good)
    manifest = msgspec.json.decode((settings.dump_dir / rel / "prompt.index.json").read_bytes())
    on_disk = sorted(p.name for p in (settings.dump_dir / rel).iterdir())
    assert on_disk == sorted([f["name"] for f in manifest["files"]] + ["prompt.index.json"])


def test_a_bundle_written_again_replaces_the_old_one(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings()
    exchange = make_exchange()
    rel = disk.bundle_rel_path(exchange)
    disk.write_bundle(settings.dump_dir, rel, build_bundle(exchange, settings))
    (settings.dump_dir / rel / "stale.raw").write_bytes(b"from the first write")
    exchange.status, exchange.error = 502, None
    again = build_bundle(exchange, settings)
    assert disk.write_bundle(settings.dump_dir, rel, again) == again.total_bytes
    on_disk = {p.name: p.read_bytes() for p in (settings.dump_dir / rel).iterdir()}
    assert on_disk == {f.name: f.data for f in again.files} | {"prompt.index.json": again.manifest}


def _on_disk(settings: Settings, rel: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (settings.dump_dir / rel).iterdir()}


def test_a_file_an_earlier_bundle_holds_already_is_a_hard_link_to_it(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings, contents = make_settings(), disk.Contents()
    first, second = make_exchange(), make_exchange()
    second.client_body = first.client_body + b" "  # the next turn: a new body, the same prompts
    first.attempts[0].request_body = first.client_body  # a pass-through: one body, two files
    rels, bundles = [], []
    for exchange in (first, second):
        rels.append(disk.bundle_rel_path(exchange))
        bundles.append(build_bundle(exchange, settings))
        disk.write_bundle(settings.dump_dir, rels[-1], bundles[-1], contents)
    for rel, bundle in zip(rels, bundles, strict=True):
        expected = {f.name: f.data for f in bundle.files} | {"prompt.index.json": bundle.manifest}
        assert _on_disk(settings, rel) == expected  # every file holds its own bytes

    def inode(rel: str, name: str) -> int:
        return (settings.dump_dir / rel / name).stat().st_ino

    a, b = rels
    assert inode(a, "ingress.request.body.raw") == inode(a, "upstream.request.body.raw")
    assert inode(a, "ingress.request.body.raw") != inode(b, "ingress.request.body.raw")
    assert inode(a, "prompt.user.txt") == inode(b, "prompt.user.txt")
    assert inode(a, "prompt.index.json") != inode(b, "prompt.index.json")


def test_a_file_changed_or_gone_since_it_was_written_is_not_linked(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings, contents = make_settings(), disk.Contents()
    first, second, third = make_exchange(), make_exchange(), make_exchange()
    a, b, c = (disk.bundle_rel_path(e) for e in (first, second, third))
    disk.write_bundle(settings.dump_dir, a, build_bundle(first, settings), contents)
    changed = settings.dump_dir / a / "prompt.user.txt"
    original = changed.read_bytes()
    changed.write_bytes(b"edited by hand")
    disk.write_bundle(settings.dump_dir, b, build_bundle(second, settings), contents)
    again = settings.dump_dir / b / "prompt.user.txt"
    assert again.read_bytes() == original
    assert again.stat().st_ino != changed.stat().st_ino
    disk.remove_bundle(settings.dump_dir, b)
    bundle = build_bundle(third, settings)
    disk.write_bundle(settings.dump_dir, c, bundle, contents)
    assert _on_disk(settings, c) == {f.name: f.data for f in bundle.files} | {
        "prompt.index.json": bundle.manifest
    }


def test_contents_remembers_the_files_written_last(tmp_path: Path) -> None:
    contents = disk.Contents(kept=2)
    paths = [str(tmp_path / f"f{i}") for i in range(5)]
    for i, data in enumerate((b"one", b"two", b"three")):
        assert not contents.write(paths[i], data, f"sha-{i}")
    assert contents.write(paths[3], b"three", "sha-2")  # kept: a link
    assert not contents.write(paths[4], b"one", "sha-0")  # forgotten: a copy
    assert os.stat(paths[3]).st_ino == os.stat(paths[2]).st_ino
    assert [Path(p).read_bytes() for p in paths] == [b"one", b"two", b"three", b"three", b"one"]


def test_files_and_directories_are_owner_only(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    if os.name != "posix":
        pytest.skip("POSIX modes")
    settings = make_settings()
    settings.dump_dir.mkdir(mode=0o700, parents=True)
    exchange = make_exchange()
    rel = disk.bundle_rel_path(exchange)
    disk.write_bundle(settings.dump_dir, rel, build_bundle(exchange, settings))
    disk.append_request_line(settings.dump_dir, exchange, rel)
    for path in settings.dump_dir.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


async def test_bundles_a_crash_left_unfinished_are_removed_at_start(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings()
    done, cut = make_exchange(), make_exchange()
    done_rel, cut_rel = disk.bundle_rel_path(done), disk.bundle_rel_path(cut)
    settings.dump_dir.mkdir(parents=True)
    disk.note_in_progress(settings.dump_dir, [done_rel, cut_rel, "runs/../../outside"])
    disk.write_bundle(settings.dump_dir, done_rel, build_bundle(done, settings))
    half = build_bundle(cut, settings)
    (settings.dump_dir / cut_rel).mkdir(parents=True)
    (settings.dump_dir / cut_rel / half.files[0].name).write_bytes(half.files[0].data)
    legacy = settings.dump_dir / ".staging" / "req-x-0000" / "ingress.request.body.raw"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"half, from an older cal")
    stop = trio.Event()
    stop.set()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(CaptureWriter(settings).run, stop)
    assert (settings.dump_dir / done_rel / "prompt.index.json").is_file()
    assert not (settings.dump_dir / cut_rel).exists()
    assert not (settings.dump_dir / disk.IN_PROGRESS).exists()
    assert not (settings.dump_dir / ".staging").exists()


def test_unsafe_ids_become_safe_path_segments(make_exchange: Callable[..., Exchange]) -> None:
    exchange = make_exchange(trace_id="../../etc", request_id="a/b\\c")
    rel = disk.bundle_rel_path(exchange)
    assert ".." not in rel.split("/") and rel.count("/") == 4


async def test_a_bundle_that_cannot_be_written_is_counted_and_still_indexed(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    settings = make_settings()
    blocked = settings.dump_dir / "runs" / "run_blocked"
    blocked.parent.mkdir(parents=True)
    blocked.write_bytes(b"a file where the run directory should be")
    writer = CaptureWriter(settings)
    batch = [
        make_exchange(request_id="ok-1"),
        make_exchange(request_id="bad", run_id="run_blocked"),
    ]
    await _run_until_written(writer, 2, lambda: [writer.submit_nowait(e) for e in batch] and None)
    stats = writer.statistics()
    assert (stats.written, stats.failed) == (1, 1)
    assert stats.last_error is not None and "bad" in stats.last_error
    db = Database.open(settings.db_path)
    with db.read() as conn:
        bad, good = get_request(conn, "bad"), get_request(conn, "ok-1")
    db.close()
    assert bad is not None and bad.bundle_path is None
    assert good is not None and good.bundle_path is not None


async def test_the_drain_on_stop_is_bounded_and_what_is_left_is_counted(
    make_settings: Callable[..., Settings], make_exchange: Callable[..., Exchange]
) -> None:
    writer = CaptureWriter(make_settings(shutdown_grace_s=0.05))
    for _ in range(1000):
        assert writer.submit_nowait(make_exchange())
    stop = trio.Event()
    stop.set()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
    stats = writer.statistics()
    assert stats.written + stats.dropped == 1000
    assert stats.dropped > 0 and stats.queued == 0
