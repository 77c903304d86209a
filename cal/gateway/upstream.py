"""The upstream HTTP client: one bounded cal/http1 pool per endpoint, explicit timeouts.

The client's errors are mapped to cal's error kinds here and nowhere else.
"""

from __future__ import annotations

import msgspec

from cal.capture.model import ErrorKindName
from cal.config import Settings
from cal.gateway.headers import Header
from cal.http1.client import (
    ConnectError,
    ConnectTimeout,
    DecodingError,
    HttpClient,
    HttpError,
    ReadError,
    RemoteProtocolError,
)
from cal.routing.model import Endpoint

MAX_CONNECTIONS_PER_ENDPOINT = 128
KEEPALIVE_EXPIRY_S = 60.0


class UpstreamFailure(Exception):
    """The upstream could not be reached or stopped answering; `kind` is an ErrorKindName."""

    def __init__(self, kind: ErrorKindName, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class UpstreamCall(msgspec.Struct, frozen=True):
    """One request to send upstream, as prepared for the endpoint."""

    url: str
    headers: list[Header]
    body: bytes
    connect_timeout_s: float
    method: str = "POST"


class _MappedClientErrors:
    """Turns the HTTP client's errors into UpstreamFailure (timeout / connect / stream_cut /
    protocol). A class, not a generator: it is entered for every chunk of every stream."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if not isinstance(exc, HttpError):
            return
        if isinstance(exc, ConnectTimeout):
            raise UpstreamFailure(
                "timeout", f"timed out connecting to the upstream: {exc}"
            ) from exc
        if isinstance(exc, ConnectError):
            raise UpstreamFailure("connect", f"could not connect to the upstream: {exc}") from exc
        if isinstance(exc, ReadError | RemoteProtocolError):
            raise UpstreamFailure("stream_cut", f"the upstream connection broke: {exc}") from exc
        if isinstance(exc, DecodingError):
            raise UpstreamFailure(
                "protocol", f"the upstream body could not be decoded: {exc}"
            ) from exc


MAPPED_CLIENT_ERRORS = _MappedClientErrors()
"""`with MAPPED_CLIENT_ERRORS:` turns the HTTP client's errors into UpstreamFailure."""


class UpstreamPool:
    """HTTP clients keyed by endpoint (name, url), created on first use, closed at shutdown.

    Only the connect timeout belongs to the client: the pump enforces the first-byte and idle
    timeouts with trio deadlines, and the attempt loop the total.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._clients: dict[tuple[str, str], HttpClient] = {}

    def client_for(self, endpoint: Endpoint) -> HttpClient:
        key = (endpoint.name, endpoint.url)
        client = self._clients.get(key)
        if client is None:
            client = HttpClient(
                max_connections=MAX_CONNECTIONS_PER_ENDPOINT, keepalive_expiry_s=KEEPALIVE_EXPIRY_S
            )
            self._clients[key] = client
        return client

    def connect_timeout_for(self, endpoint: Endpoint | None) -> float:
        """Seconds to connect to `endpoint` (and to wait for a free pooled connection)."""
        settings_value = self._settings.connect_timeout_s
        if endpoint is None:
            return settings_value
        return endpoint.connect_timeout_s or settings_value

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
