"""Rate-limit headers as providers send them, parsed into plain records (pure).

Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,
reset}` (reset in RFC 3339) and the subscription windows `anthropic-ratelimit-unified-*`
(`status`, `reset` in epoch seconds, and per window `5h`/`7d` `status`, `reset`, `utilization`).
OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (reset as a duration, "1s",
"6m0s", "20ms"). Everyone: `Retry-After` (seconds or an HTTP date) and `retry-after-ms`.
Times are absolute epoch seconds computed from the `now` passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from email.utils import parsedate_to_datetime

import msgspec

Header = tuple[str, str]

_ANTHROPIC = "anthropic-ratelimit-"
_UNIFIED = "anthropic-ratelimit-unified-"
_OPENAI = "x-ratelimit-"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIFIED_WINDOWS = {"5h": "unified-5h", "7d": "unified-7d", "7d_opus": "unified-7d-opus"}


class Window(msgspec.Struct, omit_defaults=True):
    """One rate-limit window as the provider last reported it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    """When the window resets (epoch seconds)."""
    utilization: float | None = None
    status: str | None = None
    """Unified windows: `allowed`, `allowed_warning` or `rejected`."""

    @property
    def exhausted(self) -> bool:
        """Nothing left until `reset_at` (remaining 0, or the provider says rejected)."""
        return self.remaining == 0 or self.status == "rejected"


class RateLimits(msgspec.Struct, omit_defaults=True):
    """The rate-limit state read from one response's headers."""

    observed_at: float
    windows: dict[str, Window] = msgspec.field(default_factory=dict)
    """By name: `requests`, `tokens`, `input-tokens`, `output-tokens`, `unified`,
    `unified-5h`, `unified-7d`…"""
    retry_after_s: float | None = None
    retry_at: float | None = None
    representative_claim: str | None = None

    def blocked_until(self) -> float | None:
        """The latest reset among exhausted windows, or the Retry-After time; None if not blocked."""
        times = [w.reset_at for w in self.windows.values() if w.exhausted and w.reset_at]
        if self.retry_at is not None:
            times.append(self.retry_at)
        return max(times) if times else None


def parse_duration(text: str) -> float | None:
    """Seconds in an OpenAI reset duration (`1s`, `6m0s`, `20ms`, `1h2m3.5s`); None if not one."""
    text = text.strip()
    if not text:
        return None
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        value, unit = float(match.group(1)), match.group(2)
        total += value * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]
        pos = match.end()
    if pos != len(text):
        try:
            return float(text)  # a bare number of seconds
        except ValueError:
            return None
    return total


def parse_timestamp(text: str) -> float | None:
    """Epoch seconds from RFC 3339 (`2026-01-01T00:00:00Z`) or plain epoch seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_retry_after(headers: Iterable[Header], now: float) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    values = {k.lower(): v for k, v in headers}
    if (ms := values.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    text = values.get("retry-after")
    if text is None:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _set(windows: dict[str, Window], name: str, field: str, value: object) -> None:
    if value is None:
        return
    window = windows.setdefault(name, Window())
    setattr(window, field, value)


def _anthropic(name: str, value: str, windows: dict[str, Window]) -> None:
    rest = name.removeprefix(_ANTHROPIC)
    for field in ("limit", "remaining", "reset"):
        if rest.endswith("-" + field):
            window = rest[: -len(field) - 1]
            if field == "reset":
                _set(windows, window, "reset_at", parse_timestamp(value))
            else:
                _set(windows, window, field, _int(value))
            return


def _unified(name: str, value: str, windows: dict[str, Window]) -> str | None:
    rest = name.removeprefix(_UNIFIED)
    if rest == "representative-claim":
        return value
    window, _, field = rest.rpartition("-")
    key = _UNIFIED_WINDOWS.get(window, f"unified-{window}") if window else "unified"
    if field == "status":
        _set(windows, key, "status", value)
    elif field == "reset":
        _set(windows, key, "reset_at", parse_timestamp(value))
    elif field == "utilization":
        _set(windows, key, "utilization", _float(value))
    return None


def _openai(name: str, value: str, now: float, windows: dict[str, Window]) -> None:
    rest = name.removeprefix(_OPENAI)
    field, _, window = rest.partition("-")
    if field == "reset":
        seconds = parse_duration(value)
        _set(windows, window, "reset_at", None if seconds is None else now + seconds)
    elif field in ("limit", "remaining"):
        _set(windows, window, field, _int(value))


class _RetryInfo(msgspec.Struct):
    retryDelay: str | None = None


class _GoogleError(msgspec.Struct):
    details: list[_RetryInfo] = msgspec.field(default_factory=list)


class _GoogleBody(msgspec.Struct):
    error: _GoogleError | None = None


def retry_delay_from_body(body: bytes) -> float | None:
    """Seconds from a Gemini error body's `RetryInfo.retryDelay` (`"12s"`); None without one."""
    try:
        parsed = msgspec.json.decode(body, type=_GoogleBody)
    except msgspec.MsgspecError:
        return None
    for detail in parsed.error.details if parsed.error else []:
        if detail.retryDelay and (seconds := parse_duration(detail.retryDelay)) is not None:
            return seconds
    return None


def with_retry_after(limits: RateLimits | None, seconds: float, now: float) -> RateLimits:
    """`limits` (or a new record) with a Retry-After of `seconds` where it has none."""
    if limits is None:
        return RateLimits(observed_at=now, retry_after_s=seconds, retry_at=now + seconds)
    if limits.retry_after_s is not None:
        return limits
    return msgspec.structs.replace(limits, retry_after_s=seconds, retry_at=now + seconds)


def parse_rate_limits(headers: Iterable[Header], now: float) -> RateLimits | None:
    """The rate-limit state in `headers`; None when they carry none."""
    pairs = [(k.lower(), v) for k, v in headers]
    windows: dict[str, Window] = {}
    claim: str | None = None
    for name, value in pairs:
        if name.startswith(_UNIFIED):
            claim = _unified(name, value, windows) or claim
        elif name.startswith(_ANTHROPIC):
            _anthropic(name, value, windows)
        elif name.startswith(_OPENAI):
            _openai(name, value, now, windows)
    retry_after = parse_retry_after(pairs, now)
    if not windows and retry_after is None:
        return None
    return RateLimits(
        observed_at=now,
        windows=windows,
        retry_after_s=retry_after,
        retry_at=None if retry_after is None else now + retry_after,
        representative_claim=claim,
    )
