"""gateway/: the I/O shell that carries model traffic (plain ASGI on hypercorn, httpx upstream).

Rules: same-format requests are forwarded byte for byte (only auth, host, hop-by-hop and encoding
headers change); translation is delegated to transform/, decisions to routing/; the gateway never
touches the disk: a finished Exchange goes to the runtime's sinks without waiting.
"""
