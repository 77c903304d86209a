"""The upstream HTTP client: one bounded httpx pool per endpoint, explicit timeouts.

httpx exceptions are mapped to cal's error kinds here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from cal.capture.model import ErrorKindName
from cal.config import Settings
from cal.routing.model import Endpoint

MAX_CONNECTIONS_PER_ENDPOINT = 128


class UpstreamFailure(Exception):
    """The upstream could not be reached or stopped answering; `kind` is an ErrorKindName."""

    def __init__(self, kind: ErrorKindName, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@contextmanager
def mapped_httpx_errors() -> Iterator[None]:
    """Turn httpx's transport errors into UpstreamFailure (connect / timeout / stream_cut)."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise UpstreamFailure("timeout", f"timed out connecting to the upstream: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise UpstreamFailure("timeout", f"the upstream did not answer in time ({exc!r})") from exc
    except httpx.ConnectError as exc:
        raise UpstreamFailure("connect", f"could not connect to the upstream: {exc}") from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise UpstreamFailure("stream_cut", f"the upstream connection broke: {exc}") from exc
    except httpx.DecodingError as exc:
        raise UpstreamFailure("protocol", f"the upstream body could not be decoded: {exc}") from exc
    except httpx.HTTPError as exc:
        raise UpstreamFailure("connect", f"upstream request failed: {exc!r}") from exc


class UpstreamPool:
    """httpx clients keyed by endpoint (name, url), created on first use, closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._timeout = self.timeout_for(None)
        self._clients: dict[tuple[str, str], httpx.AsyncClient] = {}

    def client_for(self, endpoint: Endpoint) -> httpx.AsyncClient:
        key = (endpoint.name, endpoint.url)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=httpx.Limits(
                    max_connections=MAX_CONNECTIONS_PER_ENDPOINT,
                    max_keepalive_connections=32,
                    keepalive_expiry=60.0,
                ),
                follow_redirects=False,
                trust_env=False,
            )
            self._clients[key] = client
        return client

    def timeout_for(self, endpoint: Endpoint | None) -> httpx.Timeout:
        """httpx's timeouts for a call to `endpoint` (its own values, else the settings').

        The read timeout is a safety net: the pump enforces the first-byte and idle timeouts
        exactly with trio deadlines.
        """
        settings = self._settings
        connect = settings.connect_timeout_s
        first, idle = settings.first_byte_timeout_s, settings.idle_timeout_s
        if endpoint is not None:
            connect = endpoint.connect_timeout_s or connect
            first = endpoint.first_byte_timeout_s or first
            idle = endpoint.idle_timeout_s or idle
        return httpx.Timeout(connect=connect, read=max(first, idle) + 1.0, write=60.0, pool=connect)

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
