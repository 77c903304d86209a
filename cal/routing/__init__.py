"""routing/: pure decisions about where a request goes.

Rules: no I/O, no clock reads, no randomness of its own (time and random sources are passed in).
Inputs are plain records (Endpoint); outputs are decisions the gateway carries out.
"""
