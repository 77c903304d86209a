"""`cal endpoint test`: one minimal, non-streaming request to an endpoint, in its own format.

The probe asks for at most 16 tokens in reply to "ping" and reports whether the endpoint answered,
with the status, the latency and either the reply text or the provider's own error message.
"""

from __future__ import annotations

from typing import Any

import msgspec
import trio

from cal import __version__
from cal.formats import ApiFormat
from cal.formats.upstream import Header, api_path, auth_headers, join_url
from cal.gateway.upstream import MAPPED_CLIENT_ERRORS, UpstreamFailure
from cal.http1.client import HttpClient
from cal.routing.model import Endpoint

PROBE_MAX_TOKENS = 16
PROBE_PROMPT = "ping"
ANTHROPIC_VERSION = "2023-06-01"
MESSAGE_LIMIT = 200
DEFAULT_MODELS: dict[ApiFormat, str] = {
    "anthropic": "claude-haiku-4-5",
    "openai-chat": "gpt-4o-mini",
    "openai-responses": "gpt-4o-mini",
    "gemini": "gemini-2.5-flash",
}


class ProbeResult(msgspec.Struct, frozen=True):
    """What a probe found: `message` is the reply text, or why the endpoint failed."""

    ok: bool
    status: int | None
    """The HTTP status, or None when no response arrived (connect error, timeout)."""
    latency_ms: float
    message: str
    model: str = ""


def probe_model(endpoint: Endpoint, model: str | None = None) -> str:
    """`model`, else the endpoint's mapping for "*", else its first mapping, else a default."""
    if model:
        return model
    if "*" in endpoint.model_map:
        return endpoint.model_map["*"]
    if endpoint.model_map:
        return next(iter(endpoint.model_map.values()))
    return DEFAULT_MODELS[endpoint.format]


def probe_body(fmt: ApiFormat, model: str, *, completion_tokens: bool = False) -> dict[str, Any]:
    """The smallest useful request body of `fmt` (`completion_tokens`: OpenAI's newer field)."""
    user = [{"role": "user", "content": PROBE_PROMPT}]
    if fmt == "anthropic":
        return {"model": model, "max_tokens": PROBE_MAX_TOKENS, "messages": user}
    if fmt == "openai-chat":
        field = "max_completion_tokens" if completion_tokens else "max_tokens"
        return {"model": model, field: PROBE_MAX_TOKENS, "messages": user}
    if fmt == "openai-responses":
        return {"model": model, "input": PROBE_PROMPT, "max_output_tokens": PROBE_MAX_TOKENS}
    return {
        "contents": [{"role": "user", "parts": [{"text": PROBE_PROMPT}]}],
        "generationConfig": {"maxOutputTokens": PROBE_MAX_TOKENS},
    }


def probe_headers(fmt: ApiFormat, api_key: str | None) -> list[Header]:
    """Content type, the format's auth header when there is a key, and Anthropic's version."""
    headers: list[Header] = [
        ("content-type", "application/json"),
        ("user-agent", f"code-agent-lens/{__version__} (endpoint test)"),
    ]
    if fmt == "anthropic":
        headers.append(("anthropic-version", ANTHROPIC_VERSION))
    if api_key:
        headers += auth_headers(fmt, api_key)
    return headers


def _joined(parts: Any) -> str | None:
    if not isinstance(parts, list):
        return None
    return "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict))


def _first(items: Any) -> dict[str, Any]:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def reply_text(fmt: ApiFormat, body: Any) -> str | None:
    """The text of a successful reply of `fmt`; None when `body` is not such a reply."""
    if not isinstance(body, dict):
        return None
    if fmt == "anthropic":
        return _joined(body.get("content"))
    if fmt == "openai-chat":
        if not isinstance(body.get("choices"), list):
            return None
        message = _first(body["choices"]).get("message")
        return str(message.get("content") or "") if isinstance(message, dict) else ""
    if fmt == "openai-responses":
        output = body.get("output")
        if not isinstance(output, list):
            return None
        items = [item for item in output if isinstance(item, dict)]
        return "".join(_joined(item.get("content")) or "" for item in items)
    if not isinstance(body.get("candidates"), list):
        return None
    content = _first(body["candidates"]).get("content")
    return (_joined(content.get("parts")) or "") if isinstance(content, dict) else ""


def error_message(raw: bytes, status: int) -> str:
    """The provider's error message from an error body (all four APIs use `error.message`)."""
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        text = raw.decode(errors="replace").strip()
        return text or f"HTTP {status}"
    if isinstance(body, list) and body:  # Gemini sometimes wraps the error in a list
        body = body[0]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    for field in ("message", "detail"):  # bare shapes of some OpenAI-compatible servers
        if isinstance(body, dict) and isinstance(body.get(field), str) and body[field]:
            return str(body[field])
    return raw.decode(errors="replace").strip() or f"HTTP {status}"


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MESSAGE_LIMIT else flat[: MESSAGE_LIMIT - 1] + "…"


def _judge(fmt: ApiFormat, status: int, raw: bytes) -> tuple[bool, str]:
    """(ok, message) for a response that arrived."""
    if not 200 <= status < 300:
        return False, error_message(raw, status)
    try:
        text = reply_text(fmt, msgspec.json.decode(raw))
    except msgspec.DecodeError:
        text = None
    if text is None:
        return False, f"HTTP {status}, but the body is not a {fmt} reply (is the URL the base URL?)"
    return True, text


async def _send(
    client: HttpClient,
    endpoint: Endpoint,
    api_key: str | None,
    model: str,
    *,
    newer: bool,
    connect_timeout_s: float,
) -> tuple[int, bytes]:
    """(status, body) of one probe request."""
    url = join_url(endpoint.url, api_path(endpoint.format, model=model.removeprefix("models/")))
    body = msgspec.json.encode(probe_body(endpoint.format, model, completion_tokens=newer))
    headers = probe_headers(endpoint.format, api_key)
    with MAPPED_CLIENT_ERRORS:
        response = await client.send(
            "POST", url, headers, body, connect_timeout_s=connect_timeout_s
        )
        try:
            return response.status, await response.read()
        finally:
            response.close()


def _wants_completion_tokens(endpoint: Endpoint, status: int, raw: bytes) -> bool:
    """OpenAI's newer models refuse `max_tokens` and ask for `max_completion_tokens`."""
    return endpoint.format == "openai-chat" and status == 400 and b"max_completion_tokens" in raw


async def probe_endpoint(
    endpoint: Endpoint,
    api_key: str | None,
    *,
    model: str | None = None,
    timeout: float = 30.0,  # noqa: ASYNC109 - it also sizes the connect timeout
) -> ProbeResult:
    """Send one small request to `endpoint`; never raises for an endpoint that fails."""
    chosen = probe_model(endpoint, model)
    started = trio.current_time()

    def elapsed_ms() -> float:
        return (trio.current_time() - started) * 1000.0

    connect_s = min(timeout, 10.0)
    client = HttpClient(max_connections=1)
    status, raw = 0, b""
    with trio.move_on_after(timeout) as deadline:
        try:
            status, raw = await _send(
                client, endpoint, api_key, chosen, newer=False, connect_timeout_s=connect_s
            )
            if _wants_completion_tokens(endpoint, status, raw):
                status, raw = await _send(
                    client, endpoint, api_key, chosen, newer=True, connect_timeout_s=connect_s
                )
        except UpstreamFailure as failure:
            return ProbeResult(False, None, elapsed_ms(), _short(failure.message), chosen)
        finally:
            await client.aclose()
    if deadline.cancelled_caught:
        return ProbeResult(False, None, elapsed_ms(), f"no answer within {timeout:g} s", chosen)
    ok, message = _judge(endpoint.format, status, raw)
    return ProbeResult(ok, status, elapsed_ms(), _short(message), chosen)
