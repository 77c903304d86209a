"""Exchange → spans without a network: shapes the exporter tests do not cover."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, StatusCode
from telemetry_exchanges import streamed_exchange

from cal.capture.model import ErrorInfo, Usage
from cal.telemetry import names as n
from cal.telemetry.spans import SpanBuilder


def _builder() -> SpanBuilder:
    scope = InstrumentationScope("test")
    return SpanBuilder(Resource({}), scope, "http://127.0.0.1:3011/debug/obs", 0)


def test_translated_non_stream_response_gets_a_transform_span() -> None:
    exchange = streamed_exchange(stream=False, raw_events=[], client_events=[])
    exchange.attempts = exchange.attempts[1:]
    spans = _builder().build(exchange)
    names = [s.name for s in spans]
    assert names.count(n.SPAN_TRANSFORM_RESPONSE) == 1
    assert n.SPAN_STREAM not in names and n.SPAN_BODY in names
    attempt = next(s for s in spans if s.kind is SpanKind.CLIENT)
    transform = next(s for s in spans if s.name == n.SPAN_TRANSFORM_RESPONSE)
    assert transform.parent is not None and attempt.context is not None
    assert transform.parent.span_id == attempt.context.span_id
    assert transform.start_time == attempt.end_time


def test_a_new_trace_has_no_parent_and_errors_set_the_status() -> None:
    exchange = streamed_exchange(
        parent_span_id=None,
        status=504,
        error=ErrorInfo("timeout", "no first byte in 300 s"),
        attempts=[],
        usage=Usage(),
    )
    spans = _builder().build(exchange)
    root = spans[0]
    assert root.parent is None
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description == "no first byte in 300 s"
    assert root.attributes is not None
    assert root.attributes[n.OUTCOME] == "error"
    assert root.attributes[n.ERROR_TYPE] == "timeout"
    assert n.GEN_AI_USAGE_INPUT_TOKENS not in root.attributes
    assert [s.name for s in spans[1:]] == [n.SPAN_INGRESS, n.SPAN_RESOLVE, n.SPAN_USAGE]


def test_gemini_routes_hide_the_model_and_client_disconnects_are_their_own_outcome() -> None:
    exchange = streamed_exchange(
        path="/v1beta/models/gemini-2.5-pro:streamGenerateContent",
        client_format="gemini",
        source_tag=None,
        error=ErrorInfo("client_disconnected", "the client disconnected"),
    )
    root = _builder().build(exchange)[0]
    assert root.name == "POST /v1beta/models/{model}:streamGenerateContent"
    assert root.attributes is not None
    assert root.attributes[n.GEN_AI_OPERATION_NAME] == "generate_content"
    assert root.attributes[n.OUTCOME] == "client_disconnected"
