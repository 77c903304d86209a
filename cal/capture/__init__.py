"""capture/: what is recorded about an exchange, independent of how it is shown.

Rules: model, redact, prompts, bundle, records, rows and lhar are pure (stdlib + msgspec, no I/O).
disk.py and retention.py do the blocking file work and run only in the writer's worker thread
(or in an export). The writer is a runtime service fed by a bounded channel: the gateway never
writes on the hot path. Nothing is recorded with a secret in it unless capture_secrets is set.
"""
