"""Fault specs for the mock: parse `X-Mock-Fault` / model-name suffixes, build error responses.

A spec is a list of terms separated by commas (or `+` in a model name):
`status=429`, `status=429-no-retry-after`, `status=500|503|529|…` (also a bare `429` or
`fault=429`), `retry-after=S`, `delay-ms=N`, `cut-after=N`, `malformed`, `gzip`, `error-event`,
`fail-first=N`. A model `mock-model+fault=429` (or `mock-model+status=529+fail-first=2`) carries
the spec after its first `+`; header terms override model terms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import msgspec

from cal.formats import ApiFormat
from cal.formats.errors import error_body, kind_for_status

Header = tuple[bytes, bytes]


class FaultSpecError(ValueError):
    """A fault spec term the mock does not know; the message names it."""


class Faults(msgspec.Struct, frozen=True, kw_only=True):
    """The faults one request asks for (all off by default)."""

    status: int | None = None
    retry_after: int | None = 1
    """Seconds for the Retry-After header of a 429; None leaves the header out."""
    delay_ms: int = 0
    cut_after: int | None = None
    malformed: bool = False
    gzip: bool = False
    error_event: bool = False
    fail_first: int | None = None

    def failures_off(self) -> Faults:
        """The same spec with every failure removed (what a request past `fail-first` gets)."""
        return Faults(delay_ms=self.delay_ms, gzip=self.gzip)


_FLAGS = {"malformed": "malformed", "gzip": "gzip", "error-event": "error_event"}
_NUMBERS = {
    "delay-ms": "delay_ms",
    "cut-after": "cut_after",
    "fail-first": "fail_first",
    "retry-after": "retry_after",
}


def _number(term: str, value: str) -> int:
    if not value.isdigit():
        raise FaultSpecError(f"fault term {term!r} needs a non-negative integer")
    return int(value)


def _status(term: str, value: str, values: dict[str, object]) -> None:
    code, _, rest = value.partition("-")
    if rest and rest != "no-retry-after":
        raise FaultSpecError(f"unknown fault term {term!r}")
    status = _number(term, code)
    if not 400 <= status <= 599:
        raise FaultSpecError(f"fault term {term!r}: status must be 400-599")
    values["status"] = status
    if rest:
        values["retry_after"] = None


def parse_faults(spec: str) -> Faults:
    """The faults of a spec string (later terms override earlier ones); raises FaultSpecError."""
    values: dict[str, object] = {}
    for term in (t.strip() for t in spec.replace("+", ",").split(",")):
        if not term:
            continue
        name, sep, value = term.partition("=")
        name = name.lower()
        if name in _FLAGS and not sep:
            values[_FLAGS[name]] = True
        elif name in _NUMBERS and sep:
            values[_NUMBERS[name]] = _number(term, value)
        elif name in ("status", "fault") and sep:
            _status(term, value, values)
        elif not sep and name[:1].isdigit():
            _status(term, name, values)
        else:
            raise FaultSpecError(f"unknown fault term {term!r}")
    return msgspec.convert(values, Faults)


def split_model(model: str) -> tuple[str, str]:
    """(`mock-model`, `fault=429`) for `mock-model+fault=429`; (model, "") without a `+`."""
    name, _, spec = model.partition("+")
    return name, spec


_MESSAGES = {
    429: "This request would exceed the rate limit (cal mock fault).",
    500: "Internal server error (cal mock fault).",
    503: "Service unavailable (cal mock fault).",
    529: "Overloaded (cal mock fault).",
}


def error_response_body(
    fmt: ApiFormat, status: int, request_id: str, retry_after: int | None
) -> bytes:
    """The body the provider sends with `status`, in its own error shape (protocols.md §3.7)."""
    message = _MESSAGES.get(status, f"HTTP {status} (cal mock fault).")
    body = error_body(fmt, kind_for_status(status), message)
    if fmt == "anthropic":
        return body[:-1] + b',"request_id":"' + request_id.encode() + b'"}'
    if fmt == "gemini":
        payload = msgspec.json.decode(body)
        payload["error"]["code"] = status
        if status == 429 and retry_after is not None:
            retry = {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{retry_after}s",
            }
            payload["error"]["details"] = [retry]
        return msgspec.json.encode(payload)
    return body


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_headers(
    fmt: ApiFormat, retry_after: int | None, now: float | None = None
) -> list[Header]:
    """The headers a provider sends with a 429: Retry-After and its rate-limit headers."""
    now = time.time() if now is None else now
    wait = retry_after if retry_after is not None else 60
    reset = now + wait
    headers: list[tuple[str, str]] = []
    if retry_after is not None:
        headers.append(("retry-after", str(retry_after)))
    if fmt == "anthropic":
        headers += [
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", _rfc3339(reset)),
            ("anthropic-ratelimit-unified-status", "rejected"),
            ("anthropic-ratelimit-unified-reset", str(int(reset))),
            ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
            ("anthropic-ratelimit-unified-5h-status", "rejected"),
            ("anthropic-ratelimit-unified-5h-reset", str(int(reset))),
            ("anthropic-ratelimit-unified-5h-utilization", "1.0"),
            ("x-should-retry", "true"),
        ]
    elif fmt in ("openai-chat", "openai-responses"):
        headers += [
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", f"{wait}s"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", f"{wait}s"),
        ]
    return [(name.encode(), value.encode()) for name, value in headers]


def _malformed(event: bytes) -> bytes:
    """A copy of `event` whose JSON data is cut in half (one malformed line)."""
    at = event.find(b"data: ")
    start = at + 6 if at >= 0 else 0
    end = event.find(b"\n", start)
    end = len(event) if end < 0 else end
    return event[: start + (end - start) // 2] + b"\n\n"


def shape_stream(
    events: list[bytes], faults: Faults, error_event: Callable[[int], bytes]
) -> list[bytes]:
    """Apply the stream faults: a malformed line, an in-band error mid-stream, an early cut."""
    middle = max(1, len(events) // 2)
    if faults.error_event:
        events = [*events[:middle], error_event(middle)]
    elif faults.malformed and middle < len(events):
        events = [*events[:middle], _malformed(events[middle]), *events[middle:]]
    if faults.cut_after is not None:
        events = events[: faults.cut_after]
    return events
