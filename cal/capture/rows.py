"""An Exchange as its request-index row and searchable prompt text (pure)."""

from __future__ import annotations

from cal.capture.model import Exchange
from cal.capture.prompts import Prompt
from cal.capture.redact import redact_text
from cal.store.ledger import exchange_cost
from cal.store.requests import PROMPT_SEARCH_CAP, RequestRow


def request_row(
    exchange: Exchange,
    prompts: list[Prompt],
    *,
    bundle_path: str | None,
    bundle_bytes: int,
    secrets: bool,
) -> RequestRow:
    """The index row of `exchange`; the error message is redacted unless `secrets`."""
    error = exchange.error
    usage = exchange.usage
    roles: list[str] = []
    for prompt in prompts:
        if prompt.role not in roles:
            roles.append(prompt.role)
    message = None
    if error is not None:
        message = error.message if secrets else redact_text(error.message)
    return RequestRow(
        request_id=exchange.request_id,
        trace_id=exchange.trace_id,
        span_id=exchange.span_id,
        run_id=exchange.run_id,
        obs_ref=exchange.obs_ref,
        started_at=exchange.started_at,
        method=exchange.method,
        path=exchange.path,
        client_format=exchange.client_format,
        source_tag=exchange.source_tag,
        client_name=exchange.client_name,
        session_id=exchange.session_id,
        upstream_format=exchange.upstream_format,
        endpoint=exchange.endpoint,
        model=exchange.model,
        route=exchange.route,
        status=exchange.status,
        attempts=len(exchange.attempts),
        stream=exchange.stream,
        ttfb_ms=exchange.ttfb_ms,
        duration_ms=exchange.duration_ms,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        usage_source=usage.source,
        cost_usd=exchange_cost(exchange),
        error_kind=error.kind if error else None,
        error_message=message,
        prompt_roles=",".join(roles),
        prompt_count=len(prompts),
        bundle_path=bundle_path,
        bundle_bytes=bundle_bytes,
    )


def search_text(prompts: list[Prompt], cap: int = PROMPT_SEARCH_CAP) -> str:
    """Prompt text for search: user prompts newest first, then the rest, capped at `cap` chars.

    The latest user turn is what people search for; long system prompts come last and are the
    first to be cut.
    """
    users = [p for p in reversed(prompts) if p.role == "user"]
    others = [p for p in prompts if p.role != "user"]
    out: list[str] = []
    size = 0
    for prompt in users + others:
        piece = f"{prompt.role}: {prompt.text}"
        out.append(piece[: cap - size])
        size += len(out[-1]) + 1
        if size >= cap:
            break
    return "\n".join(out)
