"""The exporter against a real OTLP/HTTP receiver on 127.0.0.1 (decoded with opentelemetry-proto)."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
import trio
from telemetry_exchanges import PARENT_SPAN, PARENT_TRACE, settings, streamed_exchange
from telemetry_receiver import OtlpReceiver, attributes

from cal.serve import serve_asgi
from cal.telemetry import Telemetry, names as n
from cal.telemetry.traceparent import child_span_id

SERVER, CLIENT, INTERNAL = 2, 3, 1
STATUS_OK, STATUS_ERROR = 1, 2
CUMULATIVE = 2


async def _wait_for(predicate: Callable[[], object], step: float = 0.02) -> None:
    """Poll `predicate` until it holds (callers bound the wait with trio.fail_after)."""
    for _ in range(100_000):
        if predicate():
            return
        await trio.sleep(step)


async def _export_one(tmp_path: Path, receiver: OtlpReceiver) -> Telemetry:
    """Run Telemetry against `receiver`, submit one exchange and one log record, stop it."""
    logger = logging.getLogger("cal.runtime.export-test")
    async with trio.open_nursery() as nursery:
        server_stop = trio.Event()
        host, port = await nursery.start(serve_asgi, receiver, "127.0.0.1", 0, server_stop)
        cfg = settings(tmp_path, otel_enabled=True, otlp_endpoint=f"http://{host}:{port}")
        # a generous final-flush bound: the 2 s default is tested with a dead and a hanging collector
        telemetry = Telemetry(
            cfg, run_id="run-test", flush_interval=0.05, metrics_interval=60, shutdown_timeout=10
        )
        handler = telemetry.log_handler()
        logger.addHandler(handler)
        try:
            async with trio.open_nursery() as inner:
                stop = trio.Event()
                description = await inner.start(telemetry.run, stop)
                assert f"http://{host}:{port}" in description
                assert telemetry.submit_nowait(streamed_exchange())
                logger.warning("endpoint switched to %s", "backup", extra={"endpoint": "backup"})
                await _wait_for(lambda: len(receiver.spans()) >= 10 and receiver.log_bodies())
                stop.set()
        finally:
            logger.removeHandler(handler)
        server_stop.set()
    return telemetry


async def test_span_tree_continues_the_incoming_traceparent(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    with trio.fail_after(20):
        await _export_one(tmp_path, receiver)
    spans = {span.span_id.hex(): span for span in receiver.spans()}
    root = spans["b7ad6b7169203331"]
    assert root.trace_id.hex() == PARENT_TRACE
    assert root.parent_span_id.hex() == PARENT_SPAN
    assert (root.name, root.kind, root.status.code) == ("POST /v1/messages", SERVER, STATUS_OK)
    assert {span.trace_id.hex() for span in spans.values()} == {PARENT_TRACE}
    children = {s.name: s for s in spans.values() if s.parent_span_id == root.span_id}
    assert set(children) >= {n.SPAN_INGRESS, n.SPAN_RESOLVE, "chat gpt-4o-mini", n.SPAN_USAGE}
    attempts = sorted(
        (s for s in spans.values() if s.kind == CLIENT), key=lambda s: s.start_time_unix_nano
    )
    assert [s.parent_span_id for s in attempts] == [root.span_id, root.span_id]
    assert attempts[0].span_id.hex() == child_span_id("b7ad6b7169203331", "attempt", 0)
    assert attempts[0].status.code == STATUS_ERROR
    under_second = {s.name for s in spans.values() if s.parent_span_id == attempts[1].span_id}
    assert under_second == {n.SPAN_TRANSFORM_REQUEST, n.SPAN_STREAM}
    assert all(s.start_time_unix_nano <= s.end_time_unix_nano for s in spans.values())
    assert root.end_time_unix_nano - root.start_time_unix_nano == 196_000_000


async def test_span_attributes_follow_genai_conventions_and_never_carry_secrets(
    tmp_path: Path,
) -> None:
    receiver = OtlpReceiver()
    with trio.fail_after(20):
        await _export_one(tmp_path, receiver)
    by_name = {span.name: span for span in receiver.spans()}
    root = attributes(by_name["POST /v1/messages"])
    assert root[n.OBS_REF] == f"{PARENT_TRACE}/req_0001"
    assert root[n.OBS_VIEWER_URL] == "http://127.0.0.1:3011/debug/obs/request/req_0001"
    assert root[n.GEN_AI_OPERATION_NAME] == "chat"
    assert root[n.GEN_AI_PROVIDER_NAME] == "openai"
    assert root[n.GEN_AI_REQUEST_MODEL] == "claude-sonnet-4-6"
    assert root[n.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert root[n.GEN_AI_RESPONSE_FINISH_REASONS] == ["stop"]
    assert root[n.GEN_AI_USAGE_INPUT_TOKENS] == 1120
    assert root[n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
    assert root[n.OUTCOME] == "ok"
    assert root[n.SOURCE_TAG] == "claude"
    assert root[n.SESSION_ID] == "sess-42"
    assert root[n.HTTP_ROUTE] == "/v1/messages"
    assert n.PROMPT_PREVIEW not in root
    attempt = [s for s in receiver.spans() if s.kind == CLIENT]
    first, second = sorted((attributes(s) for s in attempt), key=lambda a: a[n.RETRY_INDEX])
    assert first[n.CREDENTIAL_ID] == "cred-1"
    assert first[n.HTTP_RESPONSE_STATUS_CODE] == 503
    assert first[n.ERROR_TYPE] == "upstream_status"
    assert (second[n.SERVER_ADDRESS], second[n.SERVER_PORT]) == ("127.0.0.1", 9999)
    every_value = [str(v) for s in receiver.spans() for v in attributes(s).values()]
    assert not any("secret" in value for value in every_value)
    request = receiver.received["/v1/traces"][0]
    resource = attributes(request.resource_spans[0].resource)
    assert resource["service.name"] == "code-agent-lens"
    assert resource["code-agent-lens.obs.run_id"] == "run-test"


async def test_metrics_and_logs_arrive_over_otlp(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    with trio.fail_after(20):
        telemetry = await _export_one(tmp_path, receiver)
    assert {spec.name for spec in n.METRICS} - receiver.metric_names() <= {
        n.ERRORS.name,
        n.RETRIES.name,
        n.ENDPOINT_SWITCHES.name,
        n.CREDENTIAL_COOLDOWNS.name,
        n.CAPTURE_DROPS.name,
        n.TELEMETRY_DROPS.name,
    }
    requests = receiver.metric(n.REQUESTS.name)
    assert requests.sum.is_monotonic and requests.sum.aggregation_temporality == CUMULATIVE
    (point,) = requests.sum.data_points
    assert point.as_double == 1 and point.start_time_unix_nano > 0
    assert attributes(point)["endpoint"] == "backup"
    duration = receiver.metric(n.REQUEST_DURATION.name)
    (histogram,) = duration.histogram.data_points
    assert (histogram.count, histogram.sum) == (1, 0.196)
    assert list(histogram.explicit_bounds) == list(n.DURATION_BUCKETS)
    assert histogram.bucket_counts[5] == 1 and sum(histogram.bucket_counts) == 1  # 0.16 < x ≤ 0.32
    tokens = receiver.metric(n.TOKEN_USAGE.name)
    by_type = {attributes(p)[n.GEN_AI_TOKEN_TYPE]: p.sum for p in tokens.histogram.data_points}
    assert by_type == {"input": 1120, "output": 40}
    # OTLP delivery is at least once: a post retried after a slow answer may arrive twice
    assert set(receiver.log_bodies()) == {"endpoint switched to backup"}
    record = receiver.received["/v1/logs"][0].resource_logs[0].scope_logs[0].log_records[0]
    assert record.severity_text == "WARNING"
    assert attributes(record)["endpoint"] == "backup"
    stats = telemetry.statistics()
    assert (stats.exchanges, stats.spans_exported, stats.logs_exported) == (1, 10, 1)
    assert stats.metric_exports == 1


async def test_a_missing_collector_never_blocks_and_shutdown_is_bounded(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    cfg = settings(tmp_path, otel_enabled=True, otlp_endpoint=f"http://127.0.0.1:{dead_port}")
    threads_before = set(threading.enumerate())
    telemetry = Telemetry(cfg, queue_size=8, flush_interval=0.05)
    before = trio.current_time()
    accepted = [telemetry.submit_nowait(streamed_exchange(f"req_{i}")) for i in range(100)]
    assert trio.current_time() - before < 0.5
    assert accepted.count(True) == 8
    assert telemetry.statistics().dropped == {"exchanges.queue_full": 92}
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            await nursery.start(telemetry.run, stop)
            await trio.sleep(0.5)
            stop.set()
            stopped = trio.current_time()
        assert trio.current_time() - stopped <= 2.5
    stats = telemetry.statistics()
    assert stats.exchanges == 8
    assert stats.export_failures >= 1
    assert "ConnectError" in (stats.last_error or "")
    assert not telemetry.submit_nowait(streamed_exchange("late"))
    assert telemetry.statistics().dropped["exchanges.stopped"] == 1
    body, _ = telemetry.metrics_payload()
    assert (
        b'code_agent_lens_telemetry_drops_total{reason="queue_full",signal="exchanges"} 92.0'
        in body
    )
    started = [t.name for t in set(threading.enumerate()) - threads_before]
    assert not [name for name in started if not name.startswith("Trio thread")], started


async def test_a_hanging_collector_is_cut_off_at_shutdown(tmp_path: Path) -> None:
    receiver = OtlpReceiver(delay=30)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            server_stop = trio.Event()
            serve = partial(serve_asgi, graceful_timeout=0.1)
            host, port = await nursery.start(serve, receiver, "127.0.0.1", 0, server_stop)
            cfg = settings(tmp_path, otel_enabled=True, otlp_endpoint=f"http://{host}:{port}")
            telemetry = Telemetry(cfg, flush_interval=0.05)
            async with trio.open_nursery() as inner:
                stop = trio.Event()
                await inner.start(telemetry.run, stop)
                telemetry.submit_nowait(streamed_exchange())
                await trio.sleep(0.3)
                stop.set()
                stopped = trio.current_time()
            assert trio.current_time() - stopped <= 2.5
            server_stop.set()
    assert receiver.spans() == []
    assert telemetry.statistics().exchanges == 1


async def test_rejected_batches_are_dropped_and_counted(tmp_path: Path) -> None:
    receiver = OtlpReceiver(status=400)
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            server_stop = trio.Event()
            host, port = await nursery.start(serve_asgi, receiver, "127.0.0.1", 0, server_stop)
            cfg = settings(tmp_path, otel_enabled=True, otlp_endpoint=f"http://{host}:{port}")
            telemetry = Telemetry(cfg, flush_interval=0.05)
            stop = trio.Event()
            await nursery.start(telemetry.run, stop)
            telemetry.submit_nowait(streamed_exchange())
            await _wait_for(lambda: telemetry.statistics().dropped.get("spans.rejected"))
            stop.set()
            server_stop.set()
    assert telemetry.statistics().dropped["spans.rejected"] == 10


def test_disabled_telemetry_imports_no_opentelemetry(tmp_path: Path) -> None:
    script = f"""
import sys, trio
from cal import config
from cal.telemetry import Telemetry
from telemetry_exchanges import streamed_exchange
t = Telemetry(config.load({{"data_dir": {str(tmp_path)!r}}}, environ={{}}))
async def main():
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(t.run, stop)
        assert t.submit_nowait(streamed_exchange())
        await trio.sleep(0.05)
        stop.set()
trio.run(main)
assert t.statistics().exchanges == 1, t.statistics()
assert b"code_agent_lens_proxy_requests_total" in t.metrics_payload()[0]
loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
assert not loaded, loaded
print("ok")
"""
    here = Path(__file__).parent
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": f"{here.parents[1]}{os.pathsep}{here}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize("preview", [0, 16])
async def test_prompt_preview_is_opt_in_and_bounded(tmp_path: Path, preview: int) -> None:
    from cal.telemetry.attributes import request_attributes

    attrs = request_attributes(streamed_exchange(), "http://portal/debug/obs", preview)
    if preview:
        assert attrs[n.PROMPT_PREVIEW] == '{"model":"claude'
        assert len(attrs[n.RESPONSE_PREVIEW].encode()) <= 16
    else:
        assert n.PROMPT_PREVIEW not in attrs and n.RESPONSE_PREVIEW not in attrs


async def test_a_batch_encoded_in_slices_arrives_as_one_valid_request(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            server_stop = trio.Event()
            host, port = await nursery.start(serve_asgi, receiver, "127.0.0.1", 0, server_stop)
            cfg = settings(tmp_path, otel_enabled=True, otlp_endpoint=f"http://{host}:{port}")
            telemetry = Telemetry(cfg, flush_interval=60)
            async with trio.open_nursery() as inner:
                stop = trio.Event()
                await inner.start(telemetry.run, stop)
                for i in range(20):
                    span_id = f"{i + 1:016x}"
                    telemetry.submit_nowait(streamed_exchange(f"req_{i}", span_id=span_id))
                await trio.sleep(0.2)
                stop.set()
            server_stop.set()
    (request,) = receiver.received["/v1/traces"]
    assert len(request.resource_spans) > 1  # one per slice, merged by protobuf concatenation
    spans = receiver.spans()
    assert len(spans) == 200 == len({s.span_id for s in spans})
    refs = {attributes(s).get(n.OBS_REF) for s in spans} - {None}
    assert len(refs) == 20


async def test_a_malformed_exchange_is_counted_and_the_next_one_still_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    cfg = settings(tmp_path, otel_enabled=True, otlp_endpoint=f"http://127.0.0.1:{dead_port}")
    telemetry = Telemetry(cfg, flush_interval=60)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            await nursery.start(telemetry.run, stop)
            telemetry.submit_nowait(streamed_exchange("bad", trace_id="not-hex"))
            telemetry.submit_nowait(streamed_exchange("good"))
            await trio.sleep(0.1)
            stop.set()
    stats = telemetry.statistics()
    assert stats.exchanges == 2
    assert stats.dropped["exchanges.invalid"] == 1
    assert "could not use exchange bad" in caplog.text
    body, _ = telemetry.metrics_payload()
    assert b'code_agent_lens_telemetry_drops_total{reason="invalid",signal="exchanges"} 1.0' in body
