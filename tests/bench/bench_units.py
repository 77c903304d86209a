"""In-process figures the issue notes quote: the body work before the upstream call, per-event
stream cost per route, the work left on the loop after each response, and the capture writer's
sustained bundles per second.

Usage: python tests/bench/bench_units.py [--repeat 200] [--requests-only | --bundle-only]
                                         [--small 3000]
                                         [--stream 600] [--ledger 20000] [--rate 600] [--busy-s 10]

Request body work: the Anthropic view and envelope check (apart and in one typed decode) at 50
and 200 KB, and request translation of scenario 2's two translated routes, µs per request. With
PYTHONPATH set to an older checkout it measures that cal (the typed view only where it exists).
Translation: every golden upstream stream under tests/fixtures/transform is fed through a fresh
StreamTranslator `--repeat` times; the table gives µs per upstream event per route (median over
the route's scenarios). Legs: the mock's 64-delta streams of benchmark scenario 2 (a 50 KB
Claude Code or Codex request), one chunk per upstream event, through the gateway's Leg (SSE
framing or decoding, translation, encoding, recording on the Exchange): µs per upstream event.
Post-response: what the gateway does on the loop once the client has its last byte
(`account_exchange`: usage read, token credit, calibration, cost), µs per exchange. Every
figure is this process's CPU time (the least of 5 rounds), steadier than wall time on a machine
shared with other work.
Capture worker (`--bundle-only`): its work on one non-stream pass-through exchange of 50 and
200 KB, step by step (redaction, prompts, hashing, building, writing with and without links), and
the gateway's share: handing the exchange to a real worker; then the redaction of bodies where
its shortcuts do not apply.
Capture and ledger: the table of bench_capture.py (bundles and ledger entries per second, the
writer's CPU per bundle, the loop's wake-up lateness while it works; see there).
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import trio
from bench_capture import add_arguments as add_capture_arguments, run as run_capture, small_exchange
from harness import claude_call, fresh, responses_call

from cal.capture.model import Attempt, Exchange
from cal.formats import ApiFormat, parse_format
from cal.formats.routes import ClientRoute
from cal.gateway.health import RouteHealth
from cal.gateway.legs import Leg, PassThroughLeg
from cal.gateway.pipeline import account_exchange
from cal.gateway.translated import TranslatedLeg, translation_context
from cal.mock import (
    anthropic as mock_anthropic,
    gemini as mock_gemini,
    openai_chat as mock_chat,
    openai_responses as mock_responses,
)
from cal.mock.reply import MockOptions, PathInfo, plan_reply
from cal.sse import SSEDecoder, SSEEvent
from cal.transform import Route, TranslationContext, available_routes, lookup
from cal.transform.passthrough import strip_envelopes
from cal.usage.calibration import Calibrator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "transform"


def _events(path: Path) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return decoder.feed(path.read_bytes()) + decoder.close()


ROUNDS = 5


def cpu_us_each(run: Callable[[], object], count: int) -> float:
    """µs of this process's CPU per call of `run`: the least of ROUNDS rounds of `count` calls
    (other work on a shared machine only ever adds to a round)."""
    best = math.inf
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(count):
            run()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def translation_us_per_event(repeat: int) -> dict[str, float]:
    """Route → median µs per upstream event over its golden streams."""
    per_route: dict[str, list[float]] = {}
    for stream in sorted(FIXTURES.glob("*_via_*/*/upstream_stream.sse")):
        client, upstream = stream.parent.parent.name.split("_via_")
        route = lookup(parse_format(client), parse_format(upstream))
        events = _events(stream)
        if not events:
            continue

        def translate(route: Route = route, events: list[SSEEvent] = events) -> None:
            ctx = TranslationContext(request_id="req_bench", client_model="m", upstream_model="m")
            translator = route.stream_translator(ctx)
            for event in events:
                translator.feed(event)
            translator.finish()

        micros = cpu_us_each(translate, max(1, repeat // ROUNDS)) / len(events)
        per_route.setdefault(route.name, []).append(micros)
    return {name: statistics.median(values) for name, values in per_route.items()}


class LegCase(msgspec.Struct, frozen=True):
    """One route of scenario 2: the client's request and the upstream's stream, chunk by chunk."""

    label: str
    client: ApiFormat
    upstream: ApiFormat
    body: bytes
    chunks: list[bytes]


_MOCK_APIS = {
    "anthropic": mock_anthropic,
    "openai-chat": mock_chat,
    "openai-responses": mock_responses,
    "gemini": mock_gemini,
}


def _mock_chunks(upstream: ApiFormat, body: bytes) -> list[bytes]:
    """The mock's stream for `body` (an upstream request), 64 deltas, one item per event."""
    api = _MOCK_APIS[upstream]
    turn = api.parse_turn(body, PathInfo(model="gemini-bench", stream=True, query="alt=sse"))
    reply = plan_reply(turn, MockOptions(chunks=64), rid="bench", created=1)
    return api.render_stream(turn, reply)


def _translated(client: ApiFormat, upstream: ApiFormat, body: bytes) -> bytes:
    if client == upstream:
        return body
    ctx = TranslationContext(
        request_id="req_bench", client_model="", upstream_model="", stream=True
    )
    return lookup(client, upstream).translate_request(body, ctx)


SCENARIO_2 = frozenset(
    {"anthropic->anthropic", "anthropic->openai-chat", "openai-responses->anthropic"}
)
"""The routes benchmark scenario 2 streams through the gateway."""


def leg_cases() -> list[LegCase]:
    """Pass-through for Claude Code's and Codex's APIs, and every translated route, each with a
    50 KB request (Claude Code's, Codex's, or Claude Code's translated to the client's API)."""
    claude, codex = claude_call(50, True).body, responses_call(50, True).body
    bodies: dict[ApiFormat, bytes] = {
        "anthropic": claude,
        "openai-responses": codex,
        "openai-chat": _translated("anthropic", "openai-chat", claude),
        "gemini": _translated("anthropic", "gemini", claude),
    }
    pairs: list[tuple[ApiFormat, ApiFormat]] = [
        ("anthropic", "anthropic"),
        ("openai-responses", "openai-responses"),
        *available_routes(),
    ]
    cases = []
    for client, upstream in pairs:
        body = bodies[client]
        chunks = _mock_chunks(upstream, _translated(client, upstream, body))
        label = f"{client}->{upstream}" + (" *" if f"{client}->{upstream}" in SCENARIO_2 else "")
        cases.append(LegCase(label, client, upstream, body, chunks))
    return cases


def _leg_exchange(case: LegCase) -> Exchange:
    return Exchange(
        request_id="req_bench",
        trace_id="0" * 32,
        span_id="0" * 16,
        run_id="run_bench",
        started_at=time.time(),
        method="POST",
        path="/v1/messages",
        query="",
        client_format=case.client,
        client_headers=[],
        client_body=case.body,
        stream=True,
        model="claude-sonnet-4-5",
        endpoint="mock",
        upstream_format=case.upstream,
        route=f"{case.client}->{case.upstream}",
        attempts=[Attempt(0, "mock", case.upstream, "http://127.0.0.1:1", status=200)],
        status=200,
    )


def _streamed(case: LegCase, exchange: Exchange) -> Leg:
    """A fresh leg of `case` that has relayed the whole stream."""
    leg: Leg
    if case.client == case.upstream:
        leg = PassThroughLeg(exchange, case.upstream)
    else:
        route = lookup(case.client, case.upstream)
        leg = TranslatedLeg(exchange, route, translation_context(exchange, "claude-sonnet-4-5"))
    for i, chunk in enumerate(case.chunks):
        leg.feed(chunk, float(i))
        leg.record(chunk, float(i))
    leg.finish(float(len(case.chunks)))
    return leg


def leg_us_per_event(cases: list[LegCase], repeat: int) -> dict[str, float]:
    """Label → µs per upstream event through a fresh leg (exchange creation included)."""
    count = max(1, repeat // ROUNDS)
    return {
        case.label: cpu_us_each(lambda case=case: _streamed(case, _leg_exchange(case)), count)
        / len(case.chunks)
        for case in cases
    }


def post_response_us(cases: list[LegCase], repeat: int) -> dict[str, float]:
    """Label → µs of `account_exchange` per exchange (one calibrator learning throughout)."""
    health, calibrator = RouteHealth(), Calibrator()
    out: dict[str, float] = {}
    for case in cases:
        route = ClientRoute(case.client, "generate")
        streamed: list[tuple[Exchange, Leg]] = []
        for _ in range(repeat):
            exchange = _leg_exchange(case)
            streamed.append((exchange, _streamed(case, exchange)))
        best = math.inf
        for batch in (streamed[i::ROUNDS] for i in range(ROUNDS)):
            started = time.process_time()
            for exchange, leg in batch:
                account_exchange(exchange, leg, route, case.body, health, calibrator)
            best = min(best, (time.process_time() - started) / max(1, len(batch)))
        out[case.label] = best * 1e6
    return out


def body_view_us(repeat: int) -> dict[str, float]:
    """µs per request of the Anthropic view (model, stream) and the envelope check, done apart
    (`_BodyView` decode, then `strip_envelopes`'s scan) and in one typed decode (`decode_view`),
    at 50 and 200 KB; empty for a cal older than `decode_view`."""
    try:
        from cal.gateway.pipeline import _decode_view, decode_view
    except ImportError:
        return {}
    out: dict[str, float] = {}
    for kb in (50, 200):
        body = claude_call(kb, stream=True).body

        def apart(body: bytes = body) -> object:
            return _decode_view(body), strip_envelopes("anthropic", body)

        def typed(body: bytes = body) -> object:
            return decode_view("anthropic", body)

        out[f"view + envelope scan, {kb} KB"] = cpu_us_each(apart, repeat)
        out[f"typed view (decode_view), {kb} KB"] = cpu_us_each(typed, repeat)
    return out


def request_translation_us(repeat: int) -> dict[str, float]:
    """µs of `translate_request` per 50 KB body on scenario 2's two translated routes."""
    pairs: list[tuple[ApiFormat, ApiFormat, bytes]] = [
        ("anthropic", "openai-chat", claude_call(50, stream=True).body),
        ("openai-responses", "anthropic", responses_call(50, stream=True).body),
    ]
    out: dict[str, float] = {}
    for client, upstream, request in pairs:
        route = lookup(client, upstream)

        def translate(route: Route = route, body: bytes = request) -> object:
            ctx = TranslationContext(
                request_id="req_bench", client_model="m", upstream_model="m", stream=True
            )
            return route.translate_request(body, ctx)

        out[f"translate_request {client}->{upstream}, 50 KB"] = cpu_us_each(translate, repeat)
    return out


def next_turn(body: bytes, ids: Iterator[int]) -> Exchange:
    """A pass-through exchange of the next turn of `body`'s conversation (a new last turn),
    under a new id."""
    return msgspec.structs.replace(small_exchange(next(ids)), client_body=fresh(body))


def bundle_steps_us(size_kb: int, repeat: int) -> dict[str, float]:
    """The capture worker's work on one non-stream pass-through exchange with Claude Code's
    request grown to `size_kb`, step by step, µs of CPU each (kernel time included: the file
    system's share of the last two). On disk, each bundle is the next turn's (a new last turn),
    written once with nothing linked and once with the files the bundles before hold linked."""
    from cal.capture import disk
    from cal.capture.bundle import build_bundle, sha256_hex
    from cal.capture.prompts import extract_prompts
    from cal.capture.redact import redact_bytes
    from cal.config import load

    body = claude_call(size_kb, False).body
    exchange = msgspec.structs.replace(small_exchange(0), client_body=body)  # a pass-through
    count = max(1, repeat // 10)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load({"data_dir": Path(tmp)}, environ={})
        ids = itertools.count(1)

        def write(contents: disk.Contents) -> object:
            one = next_turn(body, ids)
            rel = disk.bundle_rel_path(one)
            with disk.BundleFiles(settings.dump_dir, rel, contents) as files:
                return files.finish(build_bundle(one, settings, on_file=files.add).manifest)

        shared = disk.Contents()
        return {
            f"redact the {size_kb} KB body": cpu_us_each(lambda: redact_bytes(body), count),
            "extract its prompts": cpu_us_each(lambda: extract_prompts("anthropic", body), count),
            "sha256 of it": cpu_us_each(lambda: sha256_hex(body), count),
            "build the bundle (no disk)": cpu_us_each(
                lambda: build_bundle(exchange, settings), count
            ),
            "build and write it, nothing linked": cpu_us_each(
                lambda: write(disk.Contents(kept=0)), count
            ),
            "build and write it, repeated files linked": cpu_us_each(lambda: write(shared), count),
            "the gateway's side: hand it to a real worker": handover_us(body, count),
        }


REDACTION_WORST = {
    "`task- ` repeated (holds `sk-`)": b"task- " * 34_000,
    "`b` repeated (the rare byte of `bearer`)": b"b" * 200_000,
    "`eyJabc.` repeated": b"eyJabc." * 29_000,
    "English words": b"the quick brown fox jumps over the lazy dog " * 4_600,
}
"""About 200 KB each: bodies where the redaction scan's shortcuts do not apply."""


def redaction_worst_us(repeat: int) -> dict[str, float]:
    """µs of CPU to redact each REDACTION_WORST body."""
    from cal.capture.redact import redact_bytes

    count = max(1, repeat // 10)
    return {
        f"redact: {name}": cpu_us_each(lambda data=data: redact_bytes(data), count)
        for name, data in REDACTION_WORST.items()
    }


def handover_us(body: bytes, count: int) -> float:
    """µs of this process's CPU to hand one pass-through exchange with `body` (a new turn each
    time) to a real capture worker, in batches of 20 as the gateway's writer does: encoding the
    frames, writing them to the worker's pipe, reading its replies. The worker's own CPU is not
    counted. The least of 5 rounds."""
    from cal.capture.engines import WorkerProcess, worker_command
    from cal.config import load

    command = worker_command()
    assert command is not None

    async def measure() -> float:
        with tempfile.TemporaryDirectory() as tmp:
            worker = WorkerProcess(load({"data_dir": Path(tmp)}, environ={}), command)
            best = math.inf
            async with trio.open_nursery() as nursery:
                await worker.open(nursery, lambda result: None, lambda count: None)
                ids = itertools.count(1)
                for _ in range(ROUNDS):
                    batches = [
                        [next_turn(body, ids) for _ in range(20)]
                        for _ in range(max(1, count // 20))
                    ]
                    started = time.process_time()
                    for batch in batches:
                        await worker.write(batch)
                    best = min(best, (time.process_time() - started) / (20 * len(batches)))
                await worker.close(60)
                nursery.cancel_scope.cancel()
            return best * 1e6

    return trio.run(measure)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument(
        "--requests-only", action="store_true", help="only the request body work, then stop"
    )
    parser.add_argument(
        "--bundle-only", action="store_true", help="only the capture worker's steps, then stop"
    )
    add_capture_arguments(parser)
    args = parser.parse_args()
    if args.bundle_only:
        for size in (50, 200):
            print(f"{f'capture worker, one {size} KB pass-through exchange':52} µs")
            for name, micros in bundle_steps_us(size, args.repeat).items():
                print(f"{name:52} {micros:8.0f}")
        print(f"{'redaction where its shortcuts do not apply, 200 KB':52} µs")
        for name, micros in redaction_worst_us(args.repeat).items():
            print(f"{name:52} {micros:8.0f}")
        return 0
    print(f"{'request body work':52} µs per request")
    work = body_view_us(args.repeat) | request_translation_us(args.repeat)
    for name, micros in work.items():
        print(f"{name:52} {micros:6.1f}")
    if args.requests_only:
        return 0
    print(f"\n{'route':36} µs per upstream event")
    for name, micros in sorted(translation_us_per_event(args.repeat).items()):
        print(f"{name:36} {micros:6.1f}")
    cases = leg_cases()
    legs, post = leg_us_per_event(cases, args.repeat), post_response_us(cases, args.repeat)
    print(f"\n{'leg: 64-delta mock stream, 50 KB request':42} µs/event  post-response µs")
    for case in cases:
        print(f"{case.label:42} {legs[case.label]:8.1f}  {post[case.label]:15.0f}")
    print("(* the routes of benchmark scenario 2)")
    run_capture(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
