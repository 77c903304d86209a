"""The JSON records of a bundle that summarise an exchange: usage.json and error.json (pure)."""

from __future__ import annotations

from cal.capture.model import Exchange
from cal.capture.redact import redact_text


def usage_record(exchange: Exchange) -> dict[str, object]:
    """What usage.json holds (minus schema_version)."""
    usage = exchange.usage
    total = (
        usage.input_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
        + usage.output_tokens
    )
    return {
        "source": usage.source,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "total_tokens": total,
        "cost_usd": None,
    }


def error_record(exchange: Exchange, secrets: bool) -> dict[str, object] | None:
    """What error.json holds, or None when nothing failed."""
    clean = (lambda s: s) if secrets else redact_text
    failed = [a for a in exchange.attempts if a.error is not None or (a.status or 0) >= 400]
    error = exchange.error
    if error is None and not failed and (exchange.status or 0) < 400:
        return None
    return {
        "kind": error.kind if error else "upstream_status",
        "message": clean(error.message) if error else f"HTTP {exchange.status}",
        "status": (error.status if error and error.status else exchange.status),
        "attempts": [
            {
                "attempt": a.index + 1,
                "endpoint": a.endpoint,
                "status": a.status,
                "kind": a.error.kind if a.error else None,
                "message": clean(a.error.message) if a.error else None,
                "reason": a.reason,
            }
            for a in failed
        ],
    }
