"""Exchanges that look like real traffic (with real-looking secrets), shared by the capture tests."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import trio

from cal.capture.model import Attempt, ErrorInfo, Exchange, StreamEvent, Usage
from cal.capture.writer import CaptureWriter

ANTHROPIC_KEY = (
    "sk-ant-api03-"
    + "Qw7Er9Ty1Ui3Op5As7Df9Gh2Jk4Lz6Xc8Vb0Nm1Qa3Ws5Ed7Rf9Tg2Yh4Uj6Ik8Ol0Pz-AbCdEfGh"
)
OPENAI_KEY = "sk-proj-" + "Mn4Bv6Cx8Za1Sd3Fg5Hj7Kl9Qw2Er4Ty6Ui8Op0AsDfGhJkLzXcVbNm1234567890Ab"
OAUTH_TOKEN = "sk-ant-oat01-" + "Pl0Ok9Ij8Uh7Yg6Tf5Rd4Es3Wa2Qz1Xs2Cd3Vf4Bg5Nh6Mj7Ki8Lo9P-Zz"
CODEX_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiJ1c2VyLTEyMzQ1Njc4OTAiLCJleHAiOjE3OTUyNzI0NjZ9."
    "c2lnbmF0dXJlLXRoYXQtaXMtbG9uZy1lbm91Z2gtdG8tbG9vay1yZWFs"
)
GEMINI_KEY = "AIzaSyD" + "3kF9sLq2Wm8Rt5Yv1Xn7Bp4Hj6Gc0Zd2Ae"
COOKIE_VALUE = "sessionid=9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRETS = (ANTHROPIC_KEY, OPENAI_KEY, OAUTH_TOKEN, CODEX_JWT, GEMINI_KEY, COOKIE_VALUE)

_ids = itertools.count(1)


def anthropic_body(text: str = "hello there", *, stream: bool = True) -> bytes:
    return msgspec.json.encode(
        {
            "model": "claude-opus-5-5",
            "max_tokens": 1024,
            "stream": stream,
            "system": [{"type": "text", "text": "You are a careful assistant."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": text}]},
                {"role": "assistant", "content": "Sure."},
                {"role": "user", "content": f"and my key is {OPENAI_KEY}, keep it safe"},
            ],
        }
    )


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


def make(**overrides: Any) -> Exchange:
    n = next(_ids)
    request_id = overrides.pop("request_id", f"req-{n:06d}")
    events = [
        StreamEvent(12.5, sse("message_start", {"type": "message_start"})),
        StreamEvent(
            20.0,
            sse("content_block_delta", {"type": "content_block_delta", "delta": {"text": "Hi!"}}),
        ),
        StreamEvent(
            31.25, sse("message_stop", {"type": "message_stop", "note": f"Bearer {OAUTH_TOKEN}"})
        ),
    ]
    attempt = Attempt(
        index=0,
        endpoint="anthropic-main",
        upstream_format="anthropic",
        url=f"https://api.example.test/v1/messages?beta=true&key={GEMINI_KEY}",
        started_ms=1.0,
        request_headers=[
            ("x-api-key", ANTHROPIC_KEY),
            ("authorization", f"Bearer {OAUTH_TOKEN}"),
            ("anthropic-version", "2023-06-01"),
        ],
        status=200,
        response_headers=[("content-type", "text/event-stream"), ("set-cookie", COOKIE_VALUE)],
        ttfb_ms=11.0,
        duration_ms=32.0,
    )
    fields: dict[str, Any] = {
        "request_id": request_id,
        "trace_id": f"{n:032x}",
        "span_id": f"{n:016x}",
        "run_id": "run_20261121T154100_abc123",
        "started_at": 1_795_272_000.0 + n,
        "method": "POST",
        "path": "/v1/messages",
        "query": f"beta=true&key={GEMINI_KEY}",
        "client_format": "anthropic",
        "client_headers": [
            ("user-agent", "claude-cli/2.1.330 (external, sdk-cli)"),
            ("x-api-key", ANTHROPIC_KEY),
            ("authorization", f"Bearer {CODEX_JWT}"),
            ("cookie", COOKIE_VALUE),
            ("x-claude-code-session-id", "sess-1"),
        ],
        "client_body": anthropic_body(),
        "client_name": "Claude Code",
        "session_id": "sess-1",
        "stream": True,
        "model": "claude-opus-5-5",
        "endpoint": "anthropic-main",
        "upstream_format": "anthropic",
        "route": "anthropic->anthropic",
        "attempts": [attempt],
        "status": 200,
        "response_headers": [("content-type", "text/event-stream")],
        "raw_events": events,
        "client_events": events,
        "usage": Usage(input_tokens=10, output_tokens=3, source="upstream"),
        "ttfb_ms": 12.5,
        "duration_ms": 33.0,
    }
    fields.update(overrides)
    return Exchange(**fields)


def failed(**overrides: Any) -> Exchange:
    """An exchange whose first attempt got a 529 and whose retry could not connect."""
    first = Attempt(
        index=0,
        endpoint="a",
        upstream_format="anthropic",
        url="https://a.test/v1/messages",
        status=529,
        response_body=b'{"type":"error","error":{"type":"overloaded_error"}}',
        reason="first try",
    )
    second = Attempt(
        index=1,
        endpoint="b",
        upstream_format="anthropic",
        url="https://b.test/v1/messages",
        error=ErrorInfo("connect", f"connection refused (key {ANTHROPIC_KEY})"),
        reason="failover",
    )
    fields: dict[str, Any] = {
        "attempts": [first, second],
        "status": 502,
        "stream": False,
        "raw_events": [],
        "client_events": [],
        "response_body": b'{"type":"error","error":{"type":"api_error","message":"bad gateway"}}',
        "error": ErrorInfo("connect", "all endpoints failed"),
        "usage": Usage(),
    }
    fields.update(overrides)
    return make(**fields)


async def write_all(writer: CaptureWriter, exchanges: list[Exchange]) -> None:
    """Run `writer`, submit `exchanges`, stop it: when this returns, it has written them all."""
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run, stop)
            for exchange in exchanges:
                assert writer.submit_nowait(exchange)
            stop.set()
