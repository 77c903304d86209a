"""The client's errors: what went wrong talking to an upstream, in a few classes.

The gateway maps each to an UpstreamFailure kind (cal/gateway/upstream.py), in one place.
"""

from __future__ import annotations


class HttpError(Exception):
    """Base of the client's errors."""


class ConnectError(HttpError):
    """No connection: refused, unreachable, name not found, TLS handshake failed."""


class ConnectTimeout(HttpError):
    """No connection (or no free slot in the pool) within the connect timeout."""


class ReadError(HttpError):
    """The connection broke or closed before the response was complete."""


class RemoteProtocolError(HttpError):
    """The upstream's response is not valid HTTP/1.1."""


class DecodingError(HttpError):
    """A response body does not decode with its content-encoding."""
