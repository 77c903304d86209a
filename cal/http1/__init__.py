"""http1/: a lean HTTP/1.1 server and client on trio, for the gateway's hot path.

Rules: `wire` is pure (bytes in, bytes out, no I/O) and shared by both sides; `server` serves an
ASGI app (http and websocket scopes) and `client` keeps bounded keep-alive pools per origin.
Only what the gateway, the mock and their tests need is built: HTTP/1.1 over TCP (TLS on the
client side), no HTTP/2, no proxies. Errors are mapped to a few classes here and nowhere else.
"""
