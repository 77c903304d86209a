"""Anthropic's 1-hour cache writes, read from what the upstream sent (pure).

Anthropic bills a cache write by its lifetime: 1.25x input for 5 minutes, 2x for an hour. Its
usage splits `cache_creation_input_tokens` into `cache_creation.ephemeral_5m_input_tokens` and
`ephemeral_1h_input_tokens`; the normalised usage keeps only the total, so cost reads the 1-hour
part here, from the non-stream body or the stream's raw events (each one whole SSE event). The
events are searched from the last: the final usage is in message_delta, next to the end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_FIELD = b"ephemeral_1h_input_tokens"
_CONTENT_EVENTS = (b"event: content_block_", b'data: {"type":"content_block_')
_ONE_HOUR = re.compile(rb'"ephemeral_1h_input_tokens"\s*:\s*(\d+)')


def one_hour_cache_writes(chunks: Iterable[bytes]) -> int:
    """The 1-hour cache writes an Anthropic response reported (the last value seen), else 0."""
    for chunk in reversed(chunks if isinstance(chunks, Sequence) else list(chunks)):
        if chunk.startswith(_CONTENT_EVENTS):  # most of a stream, and never usage
            continue
        if chunk.find(_FIELD) >= 0 and (values := _ONE_HOUR.findall(chunk)):
            return int(values[-1])
    return 0
