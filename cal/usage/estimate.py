"""Local token estimates, for when no upstream can count (always flagged as estimates).

An estimate is the body's text bytes times a tokens-per-byte ratio, plus a fixed allowance per
embedded base64 blob (images, PDFs): those are billed by size in pixels or pages, not by their
bytes, so counting their bytes would overstate a request with one screenshot by 100,000s of
tokens. Every rounding goes up: undercounting is the harmful direction (peers.md §5.3).
`cal.usage.calibration.Calibrator` learns the ratio per model from real calls.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

import msgspec

BYTES_PER_TOKEN = 3.6
"""JSON request bodies of code agents run about 3.5-4 bytes per token; erring low in bytes per
token errs high in tokens, which is the safe side for context-window decisions (peers.md §5.3)."""
PRIOR_TOKENS_PER_BYTE = 1 / BYTES_PER_TOKEN
BLOB_TOKENS = 1_600
"""Tokens allowed per embedded base64 blob: about what Anthropic charges for a full-size image
(1.15 megapixels / 750); OpenAI's high-detail tiles and Gemini's 258-token tiles come out lower."""
_MIN_BLOB = 512
_BLOB = re.compile(
    rb'(?:"(?:data|bytes)"\s*:\s*"|data:[\w.+-]+/[\w.+-]+;base64,)([A-Za-z0-9+/=\\]{%d,})'
    % _MIN_BLOB
)


_BLOB_MARKERS = (b'"data"', b'"bytes"', b";base64,")


class BodyMeasure(NamedTuple):
    """What an estimate counts in a request body."""

    text_bytes: int
    """Bytes of the body outside embedded base64 blobs."""
    blobs: int
    """How many base64 blobs (images, documents) the body embeds."""


def measure_body(body: bytes) -> BodyMeasure:
    """The body's countable bytes and its embedded blobs."""
    blob_bytes = 0
    blobs = 0
    if not any(marker in body for marker in _BLOB_MARKERS):  # most bodies: no regex scan
        return BodyMeasure(len(body), 0)
    for match in _BLOB.finditer(body):
        blob_bytes += len(match.group(1))
        blobs += 1
    return BodyMeasure(len(body) - blob_bytes, blobs)


def tokens_for(measure: BodyMeasure, tokens_per_byte: float = PRIOR_TOKENS_PER_BYTE) -> int:
    """The estimate for a measured body at `tokens_per_byte` (rounded up, at least 1)."""
    text = math.ceil(measure.text_bytes * tokens_per_byte)
    return max(1, text + measure.blobs * BLOB_TOKENS)


def estimate_input_tokens(body: bytes, tokens_per_byte: float = PRIOR_TOKENS_PER_BYTE) -> int:
    """A rough count of the input tokens of a request body (on the high side)."""
    return tokens_for(measure_body(body), tokens_per_byte)


def count_response_body(fmt: str, tokens: int) -> bytes:
    """A token-count answer in the client API's own shape (`fmt` is the client's format)."""
    payload: dict[str, object]
    if fmt == "gemini":
        payload = {"totalTokens": tokens}
    elif fmt == "openai-responses":
        payload = {"object": "response.input_tokens", "input_tokens": tokens}
    else:
        payload = {"input_tokens": tokens}
    return msgspec.json.encode(payload)


def counted_tokens(body: bytes | None) -> int | None:
    """The count in an upstream's token-count answer (Anthropic and Responses `input_tokens`,
    Gemini `totalTokens`), or None when the body is not one."""
    if not body:
        return None
    try:
        answer = msgspec.json.decode(body, type=_CountAnswer)
    except msgspec.MsgspecError:
        return None
    count = answer.input_tokens if answer.input_tokens is not None else answer.totalTokens
    return count if count is not None and count >= 0 else None


class _CountAnswer(msgspec.Struct):
    input_tokens: int | None = None
    totalTokens: int | None = None  # Gemini spells it so
