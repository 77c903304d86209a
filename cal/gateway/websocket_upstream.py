"""Turns of a Responses WebSocket session relayed to an upstream WebSocket (trio-websocket client).

Used when the endpoint a turn goes to speaks openai-responses and its upstream accepts the upgrade
on `{endpoint url}/responses`. cal learns that by trying: the first session that goes to an endpoint
opens the upstream socket; an upgrade refused with 400, 404, 405, 426 or 501 marks that URL as
HTTP-only for the runtime's life (UpstreamSockets), and that turn and later ones take the HTTP path.
Any other failure to connect (refused connection, timeout, 401, 429, 5xx) sends only that turn the
HTTP way, where retries and failover apply. The endpoint's own timeouts (connect, first byte,
idle) apply, else the settings'.

One upstream socket per client socket and endpoint, opened on the first turn and reused, so the
upstream's own `previous_response_id` chain keeps working; frames go up unchanged (the model name
mapped), answers come down unchanged, each turn recorded as a request (method `WS`). A failure once
the turn has started (upstream closed, timeout) becomes an `error` frame; the upstream socket is
then dropped, and the next turn opens a new one.
"""

from __future__ import annotations

import logging
import time

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from cal.capture.model import Attempt, ErrorInfo, ErrorKindName, Exchange, StreamEvent
from cal.config import Settings
from cal.formats.upstream import join_url
from cal.gateway.answer import record_answer
from cal.gateway.headers import Header, upstream_headers
from cal.gateway.pipeline import endpoint_key
from cal.gateway.websocket_frames import as_sse
from cal.routing.model import Endpoint
from cal.usage.extract import summarize_events

log = logging.getLogger(__name__)

_NOT_SUPPORTED = frozenset({400, 404, 405, 426, 501})
_NOT_UP = ("sec-websocket-", "content-length", "content-type", "accept-encoding")
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_CLOSE_S = 2.0
RELAYED_NOTE = "relayed over the upstream WebSocket"


class UpstreamSockets:
    """Which endpoint URLs refused a WebSocket upgrade (learnt by trying, kept for the runtime)."""

    def __init__(self) -> None:
        self._refused: set[str] = set()

    def worth_trying(self, endpoint: Endpoint) -> bool:
        return endpoint.format == "openai-responses" and socket_url(endpoint) not in self._refused

    def refused(self, url: str) -> None:
        self._refused.add(url)


def limit(endpoint: Endpoint, settings: Settings, name: str) -> float:
    """A timeout in seconds: the endpoint's own, else the setting of the same name."""
    own = endpoint.timeouts().get(name)
    return own if own is not None else float(getattr(settings, name))


def socket_url(endpoint: Endpoint) -> str:
    """`ws(s)://…/responses` under the endpoint's base URL."""
    url = join_url(endpoint.url, "/responses")
    return "ws" + url.removeprefix("http") if url.startswith("http") else url


def upgrade_headers(client: list[Header], endpoint: Endpoint) -> list[Header]:
    """The upgrade's headers upstream: the client's (its beta header included) minus the socket's."""
    kept = [(k, v) for k, v in client if not k.startswith(_NOT_UP)]
    sent = upstream_headers(kept, "openai-responses", endpoint_key(endpoint))
    return [(k, v) for k, v in sent if k != "accept-encoding"]


_CONNECT_FAILURES = (HandshakeError, ConnectionClosed, OSError, trio.TooSlowError)


class UpstreamLink:
    """One upstream socket for one client socket: a task that holds it open until closed."""

    def __init__(self, endpoint: Endpoint, url: str, headers: list[Header]) -> None:
        self.endpoint, self.url, self.headers = endpoint, url, headers
        self.connection: WebSocketConnection | None = None
        self._close = trio.Event()
        self._done = trio.Event()

    async def run(
        self,
        sockets: UpstreamSockets,
        settings: Settings,
        *,
        task_status: trio.TaskStatus[bool] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Connect, report True (or False when no socket could be opened), hold until closed."""
        try:
            await self._hold(settings, task_status)
        except _CONNECT_FAILURES as exc:
            self._failed(exc, sockets, task_status)
        except BaseExceptionGroup as group:
            matched, rest = group.split(_CONNECT_FAILURES)
            if rest is not None:
                raise rest from None
            if matched is not None:
                self._failed(_first(matched), sockets, task_status)
        finally:
            self.connection = None
            self._done.set()

    async def _hold(self, settings: Settings, task_status: trio.TaskStatus[bool]) -> None:
        extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers]
        async with open_websocket_url(
            self.url,
            extra_headers=extra,
            max_message_size=_MAX_MESSAGE_BYTES,
            message_queue_size=64,
            connect_timeout=limit(self.endpoint, settings, "connect_timeout_s"),
            disconnect_timeout=_CLOSE_S,
        ) as connection:
            self.connection = connection
            task_status.started(True)
            await self._close.wait()

    def _failed(
        self, exc: BaseException, sockets: UpstreamSockets, task_status: trio.TaskStatus[bool]
    ) -> None:
        if self.connection is not None:
            log.info("upstream WebSocket %s ended: %r", self.url, exc)
            return
        if isinstance(exc, ConnectionRejected) and exc.status_code in _NOT_SUPPORTED:
            sockets.refused(self.url)
            log.info(
                "%s refused a WebSocket upgrade (%s): HTTP from now on", self.url, exc.status_code
            )
        else:
            log.info("no upstream WebSocket to %s (%r): this turn goes over HTTP", self.url, exc)
        task_status.started(False)

    def is_open(self) -> bool:
        """Still usable: the upstream has not closed it (an idle upstream may)."""
        return self.connection is not None and self.connection.closed is None

    async def close(self) -> None:
        """Close the socket (bounded) and wait for the holding task to end."""
        self._close.set()
        with trio.move_on_after(_CLOSE_S * 2) as scope:
            scope.shield = True
            await self._done.wait()


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


class TurnFailed(Exception):
    """The upstream socket broke mid-turn; the client gets an `error` frame."""

    def __init__(self, kind: ErrorKindName, status: int, message: str) -> None:
        super().__init__(message)
        self.kind, self.status, self.message = kind, status, message


class RelayedTurn:
    """One turn on an upstream socket: the frame up, the events down, the record kept."""

    def __init__(self, link: UpstreamLink, exchange: Exchange, frame: bytes) -> None:
        self.link, self.exchange, self.frame = link, exchange, frame
        self._t0 = time.perf_counter()
        self.attempt = Attempt(
            index=0,
            endpoint=link.endpoint.name,
            upstream_format=link.endpoint.format,
            url=link.url,
            request_headers=link.headers,
            request_body=frame,
            status=101,
        )
        exchange.endpoint, exchange.upstream_format = link.endpoint.name, link.endpoint.format
        exchange.route = "openai-responses->openai-responses"
        exchange.notes.append(f"{RELAYED_NOTE} {link.url}")
        exchange.attempts.append(self.attempt)

    def ms(self) -> float:
        return (time.perf_counter() - self._t0) * 1000.0

    async def send(self) -> None:
        assert self.link.connection is not None
        try:
            await self.link.connection.send_message(self.frame.decode())
        except ConnectionClosed as exc:
            raise TurnFailed("connect", 502, f"the upstream WebSocket closed: {exc}") from None

    async def next_event(self, settings: Settings) -> bytes:
        """The next upstream frame, within the first-byte or idle timeout."""
        assert self.link.connection is not None
        first = not self.exchange.raw_events
        name = "first_byte_timeout_s" if first else "idle_timeout_s"
        seconds = limit(self.link.endpoint, settings, name)
        try:
            with trio.fail_after(seconds):
                message = await self.link.connection.get_message()
        except trio.TooSlowError:
            raise TurnFailed("timeout", 504, f"no upstream frame within {seconds:g} s") from None
        except ConnectionClosed as exc:
            message = "the upstream WebSocket closed before the turn ended"
            raise TurnFailed("stream_cut", 502, f"{message}: {exc.reason}") from None
        data = message.encode() if isinstance(message, str) else message
        t_ms = self.ms()
        if first:
            self.exchange.ttfb_ms = self.attempt.ttfb_ms = t_ms
        self.exchange.raw_events.append(StreamEvent(t_ms, as_sse(data)))
        return data

    def finish(self, error: ErrorInfo | None) -> None:
        """Status, usage and duration on the record."""
        exchange = self.exchange
        exchange.client_events = exchange.raw_events
        exchange.error = self.attempt.error = error
        exchange.status = 200
        if error is not None and error.kind != "client_disconnected":
            exchange.status = error.status or 502
        exchange.duration_ms = self.attempt.duration_ms = self.ms()
        events = (e.data for e in exchange.raw_events)
        record_answer(exchange, summarize_events("openai-responses", events))
