"""Byte helpers shared by the mock's renderers: one JSON encoder, SSE event framing, raw views."""

from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
encode = _encoder.encode


def named_event(name: str, payload: Any) -> bytes:
    """`event: NAME` + one `data:` line of JSON + blank line (Anthropic and Responses framing)."""
    return b"event: " + name.encode() + b"\ndata: " + _encoder.encode(payload) + b"\n\n"


def data_event(payload: Any) -> bytes:
    """One `data:` line of JSON + blank line (OpenAI Chat and Gemini framing)."""
    return b"data: " + _encoder.encode(payload) + b"\n\n"


def raw_text(raw: msgspec.Raw) -> str:
    """The text inside a raw content value: a string, or the `text` of its parts, joined."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ""
    return value_text(value)


def value_text(value: Any) -> str:
    """Text of a content value: strings as they are, lists of parts by their `text`/`content`."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(filter(None, (value_text(item) for item in value)))
    if isinstance(value, dict):
        for key in ("text", "content", "output"):
            if key in value:
                return value_text(value[key])
        return encode(value).decode()
    return "" if value is None else encode(value).decode()


def last_text_part(raw: msgspec.Raw, text_types: frozenset[str]) -> str:
    """The last text part of a content value (a plain string counts as one part)."""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return ""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        return ""
    texts = [
        part["text"]
        for part in value
        if isinstance(part, dict)
        and part.get("type") in text_types
        and isinstance(part.get("text"), str)
    ]
    return texts[-1] if texts else ""
