"""The capture writer's and the usage ledger's throughput, and what they cost the trio loop.

Usage: python tests/bench/bench_capture.py [--small 3000] [--stream 600] [--ledger 20000]
                                            [--rate 600] [--busy-s 10]

Each row runs a real service on a temporary data dir and feeds it exchanges:
- `capture small`: non-stream exchanges with a 100-byte request body (the benchmark's small call),
  submitted at once; `capture 50 KB stream`: Claude-Code-sized ones (the real 50 KB request body,
  200 stream events on each side, pass-through), at once;
- `capture small {rate}/s`: five seconds of small exchanges at the gateway's target rate, spread
  evenly (a steady trickle: how the gateway really hands them over);
- `loop busy`: the small ones at once while a task keeps the loop saturated (Python in 1 or
  0.2 ms slices, a poll in between), as a gateway at full load does: the writer thread must win
  the GIL from it after each of its system calls. Cut at `--busy-s`;
- `ledger`: usage-ledger entries at once, then at `rate`, then at `rate` with the loop busy.
Columns: items written per second; CPU per item in ms of the service's worker threads in user
mode (Python: what takes the GIL from the loop) and in the kernel (the file system; no GIL held),
and of the loop's thread (submitting, the services' trio side and the probe, which alone costs
about 0.1 ms per item at 600/s); the loop's wake-up lateness (p99, max; ms) seen by a task
sleeping 1 ms at a time; items not yet written when the last was submitted (paced runs) or when
the run was cut. The data dir is made under $TMPDIR: `TMPDIR=/dev/shm` shows what the writer
costs without the file system's share.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import msgspec
import psutil
import trio
import trio.lowlevel

from cal import config
from cal.capture.model import Attempt, Exchange, StreamEvent, Usage
from cal.capture.writer import CaptureWriter
from cal.store.ledger_service import UsageLedger

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT.parent / "shared" / "reference" / "captures" / "claude-code-2.1.330_messages.json"

SMALL_BODY = (
    b'{"model":"claude-bench","max_tokens":64,"messages":'
    b'[{"role":"user","content":"Say hello in one short sentence."}]}'
)
SMALL_ANSWER = (
    b'{"id":"msg_bench","type":"message","role":"assistant","model":"claude-bench",'
    b'"content":[{"type":"text","text":"Hello! How can I help you today?"}],'
    b'"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":14,"output_tokens":11}}'
)
CLIENT_HEADERS = [
    ("host", "127.0.0.1:3010"),
    ("content-type", "application/json"),
    ("anthropic-version", "2023-06-01"),
    ("x-api-key", "sk-bench"),
    ("user-agent", "cal-bench/1"),
    ("content-length", "101"),
]
UPSTREAM_HEADERS = [
    ("content-type", "application/json"),
    ("anthropic-version", "2023-06-01"),
    ("x-api-key", "sk-bench"),
    ("user-agent", "cal-bench/1"),
    ("content-length", "101"),
]
ANSWER_HEADERS = [
    ("content-type", "application/json"),
    ("content-length", str(len(SMALL_ANSWER))),
    ("date", "Sat, 21 Nov 2026 12:00:00 GMT"),
    ("request-id", "req_mock_0001"),
]


def small_exchange(i: int) -> Exchange:
    """A non-stream exchange like the benchmark's small call through the gateway."""
    attempt = Attempt(
        0,
        "mock",
        "anthropic",
        "http://127.0.0.1:3999/v1/messages",
        request_headers=UPSTREAM_HEADERS,
        status=200,
        response_headers=ANSWER_HEADERS,
        response_body=SMALL_ANSWER,
        ttfb_ms=1.2,
        duration_ms=1.4,
    )
    return Exchange(
        request_id=f"req_small{i:012d}",
        trace_id=f"{i:032x}",
        span_id=f"{i:016x}",
        run_id="run_bench",
        started_at=time.time(),
        method="POST",
        path="/v1/messages",
        query="",
        client_format="anthropic",
        client_headers=CLIENT_HEADERS,
        client_body=SMALL_BODY,
        client_name="cal-bench",
        model="claude-bench",
        endpoint="mock",
        upstream_format="anthropic",
        route="anthropic->anthropic",
        attempts=[attempt],
        status=200,
        response_headers=ANSWER_HEADERS,
        response_body=SMALL_ANSWER,
        usage=Usage(input_tokens=14, output_tokens=11, source="upstream"),
        ttfb_ms=1.3,
        duration_ms=1.6,
    )


def stream_maker() -> Callable[[int], Exchange]:
    """Claude-Code-sized stream exchanges: the real 50 KB body, 200 events on each side."""
    record = msgspec.json.decode(CAPTURE.read_bytes())
    body = msgspec.json.encode(record["body"])
    delta = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' + (
        b'"delta":{"type":"text_delta","text":"some words of the answer"}}\n\n'
    )
    events = [StreamEvent(float(i), delta) for i in range(200)]

    def make(i: int) -> Exchange:
        return Exchange(
            request_id=f"req_bench{i:012d}",
            trace_id=f"{i:032x}",
            span_id=f"{i:016x}",
            run_id="run_bench",
            started_at=time.time(),
            method="POST",
            path="/v1/messages",
            query="beta=true",
            client_format="anthropic",
            client_headers=[("content-type", "application/json"), ("x-api-key", "sk-ant-bench")],
            client_body=body,
            stream=True,
            model="claude-bench",
            endpoint="mock",
            upstream_format="anthropic",
            route="anthropic->anthropic",
            attempts=[
                Attempt(0, "mock", "anthropic", "http://127.0.0.1:1/v1/messages", status=200)
            ],
            status=200,
            raw_events=events,
            client_events=events,
        )

    return make


class Figure(msgspec.Struct, frozen=True):
    """One measured run."""

    per_s: float
    """Items written per second (for a paced run: the pace, if the service kept up)."""
    worker_ms: float
    """CPU of every thread but the loop's (the service's worker threads) in Python and the C
    it calls (user time), ms per item: what competes with the loop for the GIL."""
    kernel_ms: float
    """The same threads' system time (the file system's work, no GIL held), ms per item."""
    loop_ms: float
    """CPU of the loop's thread (submitting, the service's trio side, the probe), ms per item."""
    late_p99_ms: float
    late_max_ms: float
    behind: int | None
    """Items not yet written when the last one was submitted (paced runs), or when the time
    limit ended the run (then `per_s` is what was written in that time)."""


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cpu_split() -> tuple[float, float, float]:
    """CPU seconds so far: this process's main thread (user + system), then the user and the
    system time of its other threads and of its child processes (the capture worker)."""
    main = threading.main_thread().native_id
    loop = user = system = 0.0
    for thread in psutil.Process().threads():
        if thread.id == main:
            loop += thread.user_time + thread.system_time
        else:
            user += thread.user_time
            system += thread.system_time
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            times = child.cpu_times()
            user, system = user + times.user, system + times.system
    return loop, user, system


async def _probe(lateness: list[float]) -> None:
    """Sleep 1 ms at a time; record how late each wake-up was (seconds)."""
    while True:
        due = time.perf_counter() + 0.001
        await trio.sleep(0.001)
        lateness.append(time.perf_counter() - due)


async def _keep_busy(slice_s: float) -> None:
    """A saturated loop: Python for `slice_s` at a time, a checkpoint (a poll) in between."""
    while True:
        until = time.perf_counter() + slice_s
        while time.perf_counter() < until:
            pass
        await trio.lowlevel.checkpoint()


async def _submit(submit: Callable[[int], object], count: int, rate: float | None) -> None:
    """All at once, or `rate` per second (whatever is due at each wake-up)."""
    if rate is None:
        for i in range(count):
            submit(i)
        return
    started = trio.current_time()
    sent = 0
    while sent < count:
        due = min(count, int((trio.current_time() - started) * rate) + 1)
        while sent < due:
            submit(sent)
            sent += 1
        await trio.sleep_until(started + sent / rate)


async def _measure(
    start: Callable[[trio.Nursery, trio.Event], Awaitable[None]],
    submit: Callable[[int], object],
    done: Callable[[], int],
    count: int,
    *,
    rate: float | None = None,
    busy_slice_s: float = 0.0,
    limit_s: float = 120.0,
) -> Figure:
    stop = trio.Event()
    lateness: list[float] = []
    async with trio.open_nursery() as nursery:
        await start(nursery, stop)
        await trio.sleep(0.2)  # let start-up work (retention, migrations) settle
        nursery.start_soon(_probe, lateness)
        if busy_slice_s:
            nursery.start_soon(_keep_busy, busy_slice_s)
        before, started = _cpu_split(), time.perf_counter()
        await _submit(submit, count, rate)
        behind = count - done() if rate else None
        with trio.move_on_after(limit_s):
            while done() < count:  # noqa: ASYNC110 - polling the service
                await trio.sleep(0.002)
        written, elapsed = done(), time.perf_counter() - started
        loop, user, system = (b - a for a, b in zip(before, _cpu_split(), strict=True))
        nursery.cancel_scope.cancel()
    if written < count:
        behind = count - written
    per = 1e3 / max(written, 1)
    return Figure(
        written / elapsed,
        user * per,
        system * per,
        loop * per,
        _quantile(lateness, 0.99) * 1e3,
        max(lateness, default=0.0) * 1e3,
        behind,
    )


async def capture_figure(
    make: Callable[[int], Exchange],
    count: int,
    *,
    rate: float | None = None,
    busy_slice_s: float = 0.0,
    limit_s: float = 120.0,
    process: bool = True,
) -> Figure:
    """Bundles per second through a running CaptureWriter (submitted at once or at `rate`),
    its engine in the worker process or in a thread."""
    exchanges = [make(i) for i in range(count)]
    with tempfile.TemporaryDirectory() as data_dir:
        settings = config.load({"data_dir": data_dir}, environ={})
        writer = CaptureWriter(settings, capacity=count + 1, process=process)

        async def start(nursery: trio.Nursery, stop: trio.Event) -> None:
            await nursery.start(writer.run, stop)

        def done() -> int:
            stats = writer.statistics()
            return stats.written + stats.failed

        def submit(i: int) -> None:
            writer.submit_nowait(exchanges[i])

        return await _measure(
            start, submit, done, count, rate=rate, busy_slice_s=busy_slice_s, limit_s=limit_s
        )


async def ledger_figure(
    count: int, *, rate: float | None = None, busy_slice_s: float = 0.0, limit_s: float = 120.0
) -> Figure:
    """Ledger entries per second through a running UsageLedger (at once or at `rate`)."""
    exchanges = [small_exchange(i) for i in range(count)]
    with tempfile.TemporaryDirectory() as data_dir:
        ledger = UsageLedger(Path(data_dir) / "cal.db")

        async def start(nursery: trio.Nursery, stop: trio.Event) -> None:
            await nursery.start(ledger.run, stop)

        def done() -> int:
            stats = ledger.statistics()
            return stats.recorded + stats.failed

        def submit(i: int) -> None:
            ledger.submit_nowait(exchanges[i])

        return await _measure(
            start, submit, done, count, rate=rate, busy_slice_s=busy_slice_s, limit_s=limit_s
        )


async def idle_lateness() -> Figure:
    """The probe alone for a second: the loop's own wake-up lateness on this machine."""
    lateness: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_probe, lateness)
        await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    return Figure(
        0, 0, 0, 0, _quantile(lateness, 0.99) * 1e3, max(lateness, default=0.0) * 1e3, None
    )


def figures(
    small: int, stream: int, ledger: int, rate: float, busy_s: float
) -> list[tuple[str, Figure]]:
    """Every figure of the table, measured one after the other (worker process, then thread)."""
    paced = int(rate * 5)
    stream_of = stream_maker()
    rows = [("idle loop (probe only)", trio.run(idle_lateness))]

    def capture(
        label: str, make: Callable[[int], Exchange], count: int, process: bool, **how: float
    ) -> None:
        run = partial(capture_figure, make, count, process=process, **how)
        rows.append((f"{label} [{'proc' if process else 'thread'}]", trio.run(run)))

    for process in (True, False):
        capture(f"capture small x{small}", small_exchange, small, process)
        capture(f"capture 50 KB stream x{stream}", stream_of, stream, process)
        capture(f"capture small {rate:.0f}/s x{paced}", small_exchange, paced, process, rate=rate)
        for slice_ms in (1.0, 0.2):
            how = {"busy_slice_s": slice_ms / 1e3, "limit_s": busy_s}
            capture(f"capture small, busy {slice_ms:g} ms", small_exchange, small, process, **how)
    rows.append((f"ledger x{ledger}", trio.run(ledger_figure, ledger)))
    paced_ledger = partial(ledger_figure, paced, rate=rate)
    rows.append((f"ledger {rate:.0f}/s x{paced}", trio.run(paced_ledger)))
    busy_ledger = partial(paced_ledger, busy_slice_s=0.001, limit_s=busy_s + paced / rate)
    rows.append((f"ledger {rate:.0f}/s x{paced}, busy 1 ms", trio.run(busy_ledger)))
    return rows


def report(rows: list[tuple[str, Figure]]) -> None:
    """Print the table of `figures` (CPU in ms per item; lateness in ms)."""
    print(
        f"\n{'capture and ledger':38} {'items/s':>7} {'worker':>6} {'kernel':>6} {'loop':>6} "
        f"{'late p99':>8} {'max':>5} {'behind':>6}"
    )
    for label, fig in rows:
        behind = "" if fig.behind is None else str(fig.behind)
        print(
            f"{label:38} {fig.per_s:7.0f} {fig.worker_ms:6.3f} {fig.kernel_ms:6.3f} "
            f"{fig.loop_ms:6.3f} {fig.late_p99_ms:8.2f} {fig.late_max_ms:5.1f} {behind:>6}"
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options (bench_units.py takes them too)."""
    parser.add_argument("--small", type=int, default=3000)
    parser.add_argument("--stream", type=int, default=600)
    parser.add_argument("--ledger", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=600.0)
    parser.add_argument("--busy-s", type=float, default=10.0)


def run(args: argparse.Namespace) -> None:
    """Measure and print with the options `add_arguments` defined."""
    report(figures(args.small, args.stream, args.ledger, args.rate, args.busy_s))


def main() -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run(parser.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
