"""gateway/: the I/O shell that carries model traffic (plain ASGI on cal/http1, httpx upstream).

cal/http1 replaced hypercorn as the listener: a profile put hypercorn + h11 at ~30 % of the
gateway's CPU per request.

Rules: same-format requests are forwarded byte for byte (only auth, host, hop-by-hop and encoding
headers change); translation is delegated to transform/, decisions to routing/; the gateway never
touches the disk: a finished Exchange goes to the runtime's sinks without waiting.
"""
