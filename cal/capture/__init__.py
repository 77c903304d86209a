"""capture/: what is recorded about an exchange, independent of how it is shown.

Rules: model.py, redact.py and prompts.py are pure (stdlib + msgspec). The writer is the only part
that touches the disk, and it runs as a runtime service fed by a bounded channel: the gateway never
writes on the hot path.
"""
