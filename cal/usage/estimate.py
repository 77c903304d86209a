"""Local token estimates, for when no upstream can count (always flagged as estimates).

An estimate is the body's text bytes times a tokens-per-byte ratio, plus a fixed allowance per
embedded base64 blob (images, PDFs): those are billed by size in pixels or pages, not by their
bytes, so counting their bytes would overstate a request with one screenshot by 100,000s of
tokens. Every rounding goes up: undercounting is the harmful direction (peers.md §5.3).
`cal.usage.calibration.Calibrator` learns the ratio per model from real calls.

A blob is a run of at least 512 base64 characters right after a `"data":"` / `"bytes":"` key or
a `data:<type>;base64,` prefix. Measuring runs on the gateway's loop after every call, so a body
is not scanned byte by byte: every 16th byte is classed (base64 or not) in one C pass, and only
where 31 samples in a row are base64, which any 512-byte run gives, is the body looked at closely.
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
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\\")
_CLASSES = bytes(0x61 if i in _BASE64 else 0x2E for i in range(256))
"""A translate table: base64 characters (JSON may escape `/` as `\\/`) → `a`, the rest → `.`."""
_STRIDE = 16
_SAMPLED_RUN = b"a" * (_MIN_BLOB // _STRIDE - 1)
_RUN = b"a" * _MIN_BLOB
_KEY_BEFORE = re.compile(rb'"(?:data|bytes)"\s*:\s*"\Z')
_URL_BEFORE = re.compile(rb"data:[\w.+-]+/[\w.+-]+;base64,\Z")
_KEY_REACH, _URL_REACH = 64, 256
"""How far before a run its key or data-URL prefix is looked for."""


class BodyMeasure(NamedTuple):
    """What an estimate counts in a request body."""

    text_bytes: int
    """Bytes of the body outside embedded base64 blobs."""
    blobs: int
    """How many base64 blobs (images, documents) the body embeds."""


def measure_body(body: bytes) -> BodyMeasure:
    """The body's countable bytes and its embedded blobs."""
    sampled = body[::_STRIDE].translate(_CLASSES)
    at = sampled.find(_SAMPLED_RUN)
    blob_bytes = blobs = last_end = 0
    while at >= 0:  # samples at..stop-1 are base64: look at the bytes they span
        stop = sampled.find(b".", at)
        lo = max(0, (at - 1) * _STRIDE)  # the sample before is not base64, nor the one at stop
        hi = len(body) if stop < 0 else stop * _STRIDE
        for start, end in _long_runs(body, lo, hi):
            if _blob_prefix_before(body, start, last_end):
                blob_bytes += end - start
                blobs += 1
                last_end = end
        at = -1 if stop < 0 else sampled.find(_SAMPLED_RUN, stop)
    return BodyMeasure(len(body) - blob_bytes, blobs)


def _long_runs(body: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
    """(start, end) of every run of at least 512 base64 characters in `body[lo:hi]`, which
    starts and ends next to a byte outside base64 (or the body's edge)."""
    classes = body[lo:hi].translate(_CLASSES)
    out: list[tuple[int, int]] = []
    pos = classes.find(_RUN)
    while pos >= 0:
        end = classes.find(b".", pos)
        end = len(classes) if end < 0 else end
        out.append((lo + pos, lo + end))
        pos = classes.find(_RUN, end)
    return out


def _blob_prefix_before(body: bytes, start: int, floor: int) -> bool:
    """A run at `start` is a blob when a data key or a base64 data-URL prefix ends there (one
    that begins at or after `floor`: not inside the blob before)."""
    before = body[start - 1 : start]
    if before == b'"':
        return _KEY_BEFORE.search(body, max(floor, start - _KEY_REACH), start) is not None
    if before == b",":
        return _URL_BEFORE.search(body, max(floor, start - _URL_REACH), start) is not None
    return False


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
