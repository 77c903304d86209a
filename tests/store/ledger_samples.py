"""Exchanges for the ledger tests."""

from __future__ import annotations

import calendar
from typing import Any

from cal.capture.model import Exchange, Usage

NOON = calendar.timegm((2026, 11, 21, 12, 0, 0))


def exchange(**overrides: Any) -> Exchange:
    base: dict[str, Any] = {
        "request_id": "req_1",
        "trace_id": "t" * 32,
        "span_id": "s" * 16,
        "run_id": "run_1",
        "started_at": NOON,
        "method": "POST",
        "path": "/v1/messages",
        "query": "",
        "client_format": "anthropic",
        "client_headers": [],
        "client_body": b"{}",
        "endpoint": "anthropic-main",
        "model": "claude-sonnet-4-5",
        "status": 200,
        "usage": Usage(
            input_tokens=1_000,
            output_tokens=500,
            cache_read_tokens=20_000,
            cache_write_tokens=4_000,
            reasoning_tokens=100,
            source="upstream",
        ),
    }
    base.update(overrides)
    return Exchange(**base)
