"""usage/: token usage from what passed through, normalised (protocols.md §3.6).

Rules: pure functions of bytes and events; no I/O. Extraction reuses the transform codecs'
parsers, so there is one reading of each API's usage fields, not two.
"""
