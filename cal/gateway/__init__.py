"""gateway/: the I/O shell that carries model traffic (plain ASGI served by cal/http1's server,
upstream calls through cal/http1's client).

cal/http1 replaced hypercorn and httpx on the hot path: a profile put hypercorn + h11 at ~30 % and
httpx + httpcore at ~37 % of the gateway's CPU per request (docs/benchmarks.md).

Rules: same-format requests are forwarded byte for byte (only auth, host, hop-by-hop and encoding
headers change); translation is delegated to transform/, decisions to routing/; the gateway never
touches the disk: a finished Exchange goes to the runtime's sinks without waiting.
"""
