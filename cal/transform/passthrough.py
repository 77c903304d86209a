"""Make a same-format body safe to pass through after the conversation crossed APIs.

A client that was served through another API holds reasoning blocks whose opaque field is our
`gw1.` envelope (protocols.md §3.8). Sent byte for byte to a provider of the client's own API,
the provider rejects them (Anthropic: 400 "Invalid signature"). `strip_envelopes` removes them;
it returns None, without decoding anything, when the body holds no envelope (the common case),
so pass-through stays byte-exact whenever it can.

Rule: pure; plain dict/list decoding so every field the client sent is kept.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from cal.formats import ApiFormat
from cal.transform.common import arr, obj
from cal.transform.ir import ENVELOPE_PREFIX

_MARK = b'"' + ENVELOPE_PREFIX.encode()
GEMINI_SKIP_SIGNATURE = "skip_thought_signature_validator"
"""Gemini's documented placeholder for a function call whose real signature is unknown."""


_Unsealed = Annotated[str, msgspec.Meta(pattern=f"^(?!{re.escape(ENVELOPE_PREFIX)})")]
"""A string that is not one of our envelopes (a sealed one fails validation)."""


class _UnsealedBlock(msgspec.Struct):
    signature: _Unsealed | None = None
    data: _Unsealed | None = None


class UnsealedAnthropicMessage(msgspec.Struct):
    """An Anthropic message whose content blocks hold no envelope where `strip_envelopes` looks
    (`signature`, `data`). A body's `messages` that decode as a list of these need no stripping,
    which the gateway learns while it decodes the body anyway; anything else (an envelope, or a
    shape this does not expect) fails validation, and `strip_envelopes` decides as before."""

    content: str | list[_UnsealedBlock] = ""


def _sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ENVELOPE_PREFIX)


def _anthropic(body: dict[str, Any]) -> int:
    dropped = 0
    for msg in arr(body.get("messages")):
        content = obj(msg).get("content")
        if not isinstance(content, list):
            continue
        kept = [
            b
            for b in content
            if not (_sealed(obj(b).get("signature")) or _sealed(obj(b).get("data")))
        ]
        dropped += len(content) - len(kept)
        msg["content"] = kept
    return dropped


def _responses(body: dict[str, Any]) -> int:
    items = body.get("input")
    if not isinstance(items, list):
        return 0
    kept = [i for i in items if not _sealed(obj(i).get("encrypted_content"))]
    body["input"] = kept
    return len(items) - len(kept)


def _gemini(body: dict[str, Any]) -> int:
    changed = 0
    for content in arr(body.get("contents")):
        parts = obj(content).get("parts")
        if not isinstance(parts, list):
            continue
        kept = []
        for part in parts:
            p = obj(part)
            if not _sealed(p.get("thoughtSignature")):
                kept.append(part)
                continue
            changed += 1
            if "functionCall" in p:
                p["thoughtSignature"] = GEMINI_SKIP_SIGNATURE
                kept.append(p)
            elif p.get("text"):
                del p["thoughtSignature"]
                kept.append(p)
        content["parts"] = kept
    return changed


_STRIPPERS = {"anthropic": _anthropic, "openai-responses": _responses, "gemini": _gemini}


def strip_envelopes(fmt: ApiFormat, body: bytes) -> tuple[bytes, int] | None:
    """(`body` without our reasoning envelopes, how many blocks changed), or None when there is
    nothing to change (then forward the original bytes)."""
    strip = _STRIPPERS.get(fmt)
    if strip is None or _MARK not in body:
        return None
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    changed = strip(doc)
    return (msgspec.json.encode(doc), changed) if changed else None
