"""Metric observations, label capping, Prometheus exposition and the semantic-convention names."""

from __future__ import annotations

from pathlib import Path

import trio
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as genai
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics
from prometheus_client.parser import text_string_to_metric_families
from telemetry_exchanges import settings, streamed_exchange

from cal.capture.model import ErrorInfo, StreamEvent
from cal.telemetry import Telemetry, names as n
from cal.telemetry.measures import CHUNK_SAMPLES, OTHER, LabelLimiter, observe_exchange


def test_genai_keys_and_metric_names_match_the_semconv_package() -> None:
    for constant in dir(n):
        if constant.startswith("GEN_AI_"):
            assert getattr(n, constant) == getattr(genai, constant), constant
    assert n.TOKEN_USAGE.name == gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE
    assert n.TIME_TO_FIRST_CHUNK.name == gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK
    assert (
        n.TIME_PER_OUTPUT_CHUNK.name == gen_ai_metrics.GEN_AI_CLIENT_OPERATION_TIME_PER_OUTPUT_CHUNK
    )
    assert {v.value for v in genai.GenAiTokenTypeValues} == {"input", "output"}


def test_prometheus_names_follow_the_otlp_translation() -> None:
    assert n.REQUESTS.prometheus_name == "code_agent_lens_proxy_requests_total"
    assert n.REQUEST_DURATION.prometheus_name == "code_agent_lens_proxy_request_duration_seconds"
    assert n.TOKEN_USAGE.prometheus_name == "gen_ai_client_token_usage"
    names = [spec.name for spec in n.METRICS]
    assert len(names) == len(set(names))


def test_one_exchange_makes_the_expected_observations() -> None:
    observations = observe_exchange(streamed_exchange(), LabelLimiter())
    by_name: dict[str, list[float]] = {}
    for o in observations:
        by_name.setdefault(o.spec.name, []).extend(o.values)
    assert by_name[n.REQUESTS.name] == [1]
    assert by_name[n.REQUEST_DURATION.name] == [0.196]
    assert by_name[n.FAILOVERS.name] == [1]
    assert n.RETRIES.name not in by_name
    assert by_name[n.STREAM_EVENTS_TOTAL.name] == [12]
    assert len(by_name[n.TIME_PER_OUTPUT_CHUNK.name]) == 11
    assert by_name[n.TOKEN_USAGE.name] == [1120, 40]
    assert sorted(by_name[n.TOKENS.name]) == [5, 20, 40, 100, 1000]
    assert by_name[n.COST.name] == [0.0012]
    requests = next(o for o in observations if o.spec is n.REQUESTS)
    assert dict(zip(n.REQUESTS.labels, requests.labels, strict=True)) == {
        "endpoint": "backup",
        "model": "claude-sonnet-4-6",
        "route": "anthropic->openai-chat",
        "client": "claude-code",
        "status_class": "2xx",
    }


def test_label_values_past_the_cap_fold_into_other() -> None:
    limiter = LabelLimiter(caps={"model": 3})
    values = [limiter.value("model", f"m{i}") for i in range(10)]
    assert values == ["m0", "m1", "m2", *[OTHER] * 7]
    assert limiter.value("model", "m1") == "m1"


async def test_prometheus_payload_counts_exchanges_even_with_export_off(tmp_path: Path) -> None:
    telemetry = Telemetry(settings(tmp_path))
    failed = streamed_exchange("req_2", status=502, error=ErrorInfo("upstream_status", "bad", 502))
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            description = await nursery.start(telemetry.run, stop)
            assert "Prometheus metrics only" in description
            telemetry.submit_nowait(streamed_exchange())
            telemetry.submit_nowait(failed)
            telemetry.endpoint_switched("backup", "failover")
            telemetry.capture_dropped()
            telemetry.credential_cooldown("primary")
            await trio.sleep(0.05)
            stop.set()
    body, content_type = telemetry.metrics_payload()
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    labels = {"client": "claude-code", "endpoint": "backup", "model": "claude-sonnet-4-6"}
    labels["route"] = "anthropic->openai-chat"
    ok = tuple(sorted({**labels, "status_class": "2xx"}.items()))
    bad = tuple(sorted({**labels, "status_class": "5xx"}.items()))
    assert samples[("code_agent_lens_proxy_requests_total", ok)] == 1
    assert samples[("code_agent_lens_proxy_requests_total", bad)] == 1
    error = tuple(
        sorted({**labels, "status_class": "5xx", "error_kind": "upstream_status"}.items())
    )
    assert samples[("code_agent_lens_proxy_errors_total", error)] == 1
    switch = (("endpoint", "backup"), ("reason", "failover"))
    assert samples[("code_agent_lens_endpoint_switches_total", switch)] == 1
    assert samples[("code_agent_lens_capture_drops_total", (("reason", "queue_full"),))] == 1
    token_labels = {
        "endpoint": "backup",
        "gen_ai_operation_name": "chat",
        "gen_ai_provider_name": "openai",
        "gen_ai_request_model": "claude-sonnet-4-6",
        "gen_ai_token_type": "input",
    }
    assert samples[("gen_ai_client_token_usage_sum", tuple(sorted(token_labels.items())))] == 2240
    assert telemetry.statistics().exchanges == 2


def test_long_streams_give_a_bounded_number_of_chunk_samples() -> None:
    events = [StreamEvent(float(i * i), b"data: {}\n\n") for i in range(2000)]
    observations = observe_exchange(streamed_exchange(raw_events=events), LabelLimiter())
    chunks = next(o for o in observations if o.spec is n.TIME_PER_OUTPUT_CHUNK)
    assert len(chunks.values) == CHUNK_SAMPLES
    assert chunks.values == tuple(sorted(chunks.values))  # evenly spread: gaps grow with i
    assert chunks.values[0] == 0.001 and chunks.values[-1] > 3.9
    stream_events = next(o for o in observations if o.spec is n.STREAM_EVENTS_TOTAL)
    assert stream_events.values == (2000,)
