"""LHAR (LLM HTTP Archive, version 0.1.0, as Context Lens defines it) records from index rows (pure).

A `.lhar` file is JSON Lines: one `session` line, then one `entry` line per request, oldest first.
Fields cal does not measure (context-window composition, security alerts) are null or empty;
headers are the captured (redacted) ones; raw bodies are the captured bodies when present.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from cal import __version__
from cal.store.requests import RequestRow

LHAR_VERSION = "0.1.0"
COLLECTOR = "code-agent-lens"
ARTIFACTS = (
    "ingress.request.headers.json",
    "ingress.request.body.raw",
    "upstream.response.transformed.headers.json",
    "upstream.response.transformed.raw",
)
"""The bundle files an entry is built from (read by the caller)."""
_SYSTEMS = {
    "anthropic": "anthropic",
    "openai-chat": "openai",
    "openai-responses": "openai",
    "gemini": "gemini",
}


def _iso(seconds: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{whole}.{int((seconds % 1) * 1000):03d}Z"


def lhar_trace_id(conversation: str) -> str:
    """sha256(conversation id)[:32], the trace id Context Lens gives a conversation."""
    return hashlib.sha256(conversation.encode()).hexdigest()[:32]


def session_line(conversation: str, rows: list[RequestRow]) -> dict[str, Any]:
    """The first line of a `.lhar` file."""
    first = rows[0] if rows else None
    return {
        "type": "session",
        "trace_id": lhar_trace_id(conversation),
        "started_at": _iso(first.started_at) if first else None,
        "tool": (first.client_name if first else None) or "unknown",
        "model": first.model if first else None,
    }


def _json_or_none(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return data.decode("utf-8", "replace")


def _headers(data: bytes | None) -> dict[str, str]:
    record = _json_or_none(data)
    if not isinstance(record, dict):
        return {}
    out: dict[str, str] = {}
    for pair in record.get("headers", []):
        if isinstance(pair, list) and len(pair) == 2 and pair[1] is not None:
            out[str(pair[0])] = str(pair[1])
    return out


def _gen_ai(row: RequestRow, body: Any, response: Any) -> dict[str, Any]:
    request = body if isinstance(body, dict) else {}
    stop = request.get("stop_sequences", request.get("stop"))
    return {
        "system": _SYSTEMS.get(row.client_format, row.client_format),
        "request": {
            "model": request.get("model", row.model),
            "max_tokens": request.get("max_tokens", request.get("max_output_tokens")),
            "temperature": request.get("temperature"),
            "top_p": request.get("top_p"),
            "stop_sequences": stop if isinstance(stop, list) else ([stop] if stop else []),
        },
        "response": {
            "model": response.get("model") if isinstance(response, dict) else None,
            "finish_reasons": _finish_reasons(response),
        },
        "usage": {
            "input_tokens": row.input_tokens + row.cache_read_tokens + row.cache_write_tokens,
            "output_tokens": row.output_tokens,
            "total_tokens": row.input_tokens
            + row.cache_read_tokens
            + row.cache_write_tokens
            + row.output_tokens,
        },
    }


def _finish_reasons(response: Any) -> list[str]:
    if not isinstance(response, dict):
        return []
    if isinstance(response.get("stop_reason"), str):
        return [response["stop_reason"]]
    reasons = [
        c.get("finish_reason") or c.get("finishReason")
        for c in response.get("choices") or response.get("candidates") or []
        if isinstance(c, dict)
    ]
    return [str(r) for r in reasons if r]


def _timings(row: RequestRow) -> dict[str, Any] | None:
    if row.duration_ms is None:
        return None
    wait = row.ttfb_ms or 0.0
    receive = max(0.0, row.duration_ms - wait)
    per_second = row.output_tokens / (receive / 1000) if receive > 0 and row.output_tokens else None
    return {
        "send_ms": 0.0,
        "wait_ms": wait,
        "receive_ms": receive,
        "total_ms": row.duration_ms,
        "tokens_per_second": per_second,
    }


def entry_line(
    row: RequestRow, sequence: int, conversation: str, files: Mapping[str, bytes]
) -> dict[str, Any]:
    """One `entry` line; `files` holds whichever of ARTIFACTS the bundle has."""
    body = _json_or_none(files.get("ingress.request.body.raw"))
    response = _json_or_none(files.get("upstream.response.transformed.raw"))
    return {
        "type": "entry",
        "id": row.request_id,
        "trace_id": lhar_trace_id(conversation),
        "span_id": row.span_id,
        "parent_span_id": None,
        "timestamp": _iso(row.started_at),
        "sequence": sequence,
        "source": {
            "tool": row.client_name or "unknown",
            "tool_version": None,
            "agent_role": "main",
            "collector": COLLECTOR,
            "collector_version": __version__,
        },
        "gen_ai": _gen_ai(row, body, response),
        "usage_ext": {
            "cache_read_tokens": row.cache_read_tokens,
            "cache_write_tokens": row.cache_write_tokens,
            "thinking_tokens": row.reasoning_tokens,
            "cost_usd": row.cost_usd,
        },
        "http": {
            "method": row.method,
            "url": row.path,
            "status_code": row.status,
            "api_format": row.client_format,
            "stream": row.stream,
            "request_headers": _headers(files.get("ingress.request.headers.json")),
            "response_headers": _headers(files.get("upstream.response.transformed.headers.json")),
        },
        "timings": _timings(row),
        "transfer": {
            "request_bytes": len(files.get("ingress.request.body.raw", b"")),
            "response_bytes": len(files.get("upstream.response.transformed.raw", b"")),
            "compressed": False,
        },
        "context_lens": None,
        "raw": {"request_body": body, "response_body": response},
        "cal": {"obs_ref": row.obs_ref, "run_id": row.run_id, "cal_trace_id": row.trace_id},
    }


def encode_lines(lines: list[dict[str, Any]]) -> bytes:
    """JSON Lines bytes."""
    return b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
