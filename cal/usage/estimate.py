"""Local token estimates, for when no upstream can count (always flagged as estimates)."""

from __future__ import annotations

BYTES_PER_TOKEN = 3.6
"""JSON request bodies of code agents run about 3.5-4 bytes per token; erring low in bytes per
token errs high in tokens, which is the safe side for context-window decisions (peers.md §5.3)."""


def estimate_input_tokens(body: bytes) -> int:
    """A rough count of the input tokens of a request body."""
    return max(1, round(len(body) / BYTES_PER_TOKEN))
