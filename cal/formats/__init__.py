"""formats/: the four wire APIs as data (no I/O, no translation logic).

Rule: these modules import only the stdlib and msgspec. They describe what is on the wire and
detect which API a request speaks; transform/ decides what to do with it.
"""

from __future__ import annotations

from typing import Literal, get_args

ApiFormat = Literal["anthropic", "openai-chat", "openai-responses", "gemini"]
"""The four HTTP APIs cal speaks, as client formats and as upstream (endpoint) formats."""

API_FORMATS: tuple[ApiFormat, ...] = get_args(ApiFormat)


def parse_format(value: str) -> ApiFormat:
    """Return `value` as an ApiFormat, or raise ValueError naming the accepted values."""
    for fmt in API_FORMATS:
        if value == fmt:
            return fmt
    raise ValueError(f"unknown format {value!r}: expected one of {', '.join(API_FORMATS)}")
