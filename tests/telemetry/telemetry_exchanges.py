"""Test support: realistic exchanges as the gateway fills them, and settings (no OpenTelemetry import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cal import config
from cal.capture.model import Attempt, ErrorInfo, Exchange, StreamEvent, Usage

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def settings(tmp_path: Path, **overrides: Any) -> config.Settings:
    """Settings with no environment influence."""
    return config.load({"data_dir": tmp_path, **overrides}, environ={})


def streamed_exchange(request_id: str = "req_0001", **changes: Any) -> Exchange:
    """A streamed Anthropic request served by an OpenAI Chat endpoint after one failover, as the
    gateway fills it: ids from an incoming traceparent, timings in ms since the start."""
    first = Attempt(
        index=0,
        endpoint="primary",
        upstream_format="openai-chat",
        url="https://api.example.com/v1/chat/completions",
        credential_id="cred-1",
        started_ms=2.0,
        status=503,
        ttfb_ms=30.0,
        duration_ms=31.0,
        error=ErrorInfo("upstream_status", "overloaded", 503),
        reason="first choice",
        model="gpt-4o-mini",
        sent_ms=3.0,
    )
    second = Attempt(
        index=1,
        endpoint="backup",
        upstream_format="openai-chat",
        url="http://127.0.0.1:9999/v1/chat/completions?key=secret",
        started_ms=35.0,
        status=200,
        ttfb_ms=40.0,
        duration_ms=160.0,
        reason="failover after 503",
        model="gpt-4o-mini",
        sent_ms=36.5,
    )
    events = [StreamEvent(75.0 + 10 * i, b"data: {}\n\n") for i in range(12)]
    exchange = Exchange(
        request_id=request_id,
        trace_id=PARENT_TRACE,
        span_id="b7ad6b7169203331",
        run_id="run-test",
        started_at=1_763_700_000.0,
        method="POST",
        path="/claude/v1/messages",
        query="beta=true",
        client_format="anthropic",
        client_headers=[("content-type", "application/json")],
        client_body=b'{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}',
        parent_span_id=PARENT_SPAN,
        source_tag="claude",
        client_name="claude-code",
        session_id="sess-42",
        stream=True,
        model="claude-sonnet-4-6",
        endpoint="backup",
        upstream_format="openai-chat",
        route="anthropic->openai-chat",
        attempts=[first, second],
        status=200,
        raw_events=events,
        client_events=events,
        usage=Usage(
            input_tokens=100,
            output_tokens=40,
            cache_read_tokens=1000,
            cache_write_tokens=20,
            reasoning_tokens=5,
            source="upstream",
        ),
        ttfb_ms=76.0,
        duration_ms=196.0,
        body_read_ms=0.5,
        resolved_ms=1.5,
        response_model="gpt-4o-mini-2024-07-18",
        finish_reasons=["stop"],
        cost_usd=0.0012,
    )
    for key, value in changes.items():
        setattr(exchange, key, value)
    return exchange
