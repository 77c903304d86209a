"""Two in-process figures the issue notes quote: per-event stream translation time per route,
and the capture writer's sustained bundles per second.

Usage: python tests/bench/bench_units.py [--bundles 500] [--repeat 200]

Translation: every golden upstream stream under tests/fixtures/transform is fed through a fresh
StreamTranslator `--repeat` times; the table gives µs per upstream event per route (median over
the route's scenarios). Capture: `--bundles` Claude-Code-sized exchanges (the real 50 KB request
body, 200 stream events on each side) are submitted to a running CaptureWriter at once; the figure
is bundles written per second until the last one is on disk.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec
import trio

from cal import config
from cal.capture.model import Attempt, Exchange, StreamEvent
from cal.capture.writer import CaptureWriter
from cal.formats import parse_format
from cal.sse import SSEDecoder, SSEEvent
from cal.transform import TranslationContext, lookup

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "transform"
CAPTURE = ROOT.parent / "shared" / "reference" / "captures" / "claude-code-2.1.330_messages.json"


def _events(path: Path) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.feed(path.read_bytes()) + decoder.close()


def translation_us_per_event(repeat: int) -> dict[str, float]:
    """Route → median µs per upstream event over its golden streams."""
    per_route: dict[str, list[float]] = {}
    for stream in sorted(FIXTURES.glob("*_via_*/*/upstream_stream.sse")):
        client, upstream = stream.parent.parent.name.split("_via_")
        route = lookup(parse_format(client), parse_format(upstream))
        events = _events(stream)
        if not events:
            continue
        started = time.perf_counter()
        for _ in range(repeat):
            ctx = TranslationContext(request_id="req_bench", client_model="m", upstream_model="m")
            translator = route.stream_translator(ctx)
            for event in events:
                translator.feed(event)
            translator.finish()
        elapsed = time.perf_counter() - started
        per_route.setdefault(route.name, []).append(elapsed / (repeat * len(events)) * 1e6)
    return {name: statistics.median(values) for name, values in per_route.items()}


def _exchange(i: int, body: bytes, events: list[StreamEvent]) -> Exchange:
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
        attempts=[Attempt(0, "mock", "anthropic", "http://127.0.0.1:1/v1/messages", status=200)],
        status=200,
        raw_events=events,
        client_events=events,
    )


async def capture_bundles_per_second(count: int) -> float:
    record = msgspec.json.decode(CAPTURE.read_bytes())
    body = msgspec.json.encode(record["body"])
    delta = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' + (
        b'"delta":{"type":"text_delta","text":"some words of the answer"}}\n\n'
    )
    events = [StreamEvent(float(i), delta) for i in range(200)]
    with tempfile.TemporaryDirectory() as data_dir:
        settings = config.load({"data_dir": data_dir}, environ={})
        writer = CaptureWriter(settings, capacity=count + 1)
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            started = time.perf_counter()
            for i in range(count):
                writer.submit_nowait(_exchange(i, body, events))
            while writer.statistics().written < count:  # noqa: ASYNC110 - polling the writer
                await trio.sleep(0.005)
            elapsed = time.perf_counter() - started
            stop.set()
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    print(f"{'route':36} µs per upstream event")
    for name, micros in sorted(translation_us_per_event(args.repeat).items()):
        print(f"{name:36} {micros:6.1f}")
    rate = trio.run(capture_bundles_per_second, args.bundles)
    print(f"capture writer: {rate:.0f} bundles/s ({args.bundles} Claude-Code-sized exchanges)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
