"""A translated attempt: the client's API served through an endpoint of another API."""

from __future__ import annotations

import time

import msgspec

from cal.capture.model import ErrorInfo, ErrorKindName, Exchange, StreamEvent
from cal.formats import ApiFormat
from cal.formats.errors import ErrorKind
from cal.formats.upstream import auth_headers
from cal.gateway.headers import UPSTREAM_ACCEPT_ENCODING, Header, header_value
from cal.gateway.legs import SSE_HEADERS, RawHeaders
from cal.sse import SSEDecoder
from cal.transform import Route, StreamTranslator, TranslationContext, TranslationError
from cal.transform.ir import Usage
from cal.usage.extract import AnswerSummary

_KEPT_FROM_UPSTREAM = frozenset({"retry-after"})


def translation_context(exchange: Exchange, upstream_model: str | None) -> TranslationContext:
    return TranslationContext(
        request_id=exchange.request_id,
        client_model=exchange.model or "",
        upstream_model=upstream_model or "",
        stream=exchange.stream,
        now=lambda: int(time.time()),
    )


def client_credential(headers: list[Header], query: str) -> str | None:
    """The credential the client sent, whatever its API's header (or Gemini's `?key=`)."""
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        if value := header_value(headers, name):
            return value
    authorization = header_value(headers, "authorization") or ""
    if authorization.lower().startswith("bearer "):
        return authorization[7:]
    for part in query.split("&"):
        if part.startswith("key="):
            return part[4:]
    return None


def translated_headers(
    client: list[Header], fmt: ApiFormat, key: str | None, stream: bool
) -> list[Header]:
    """Headers for an upstream of another API: ours, plus the credential in its own header."""
    out: list[Header] = [
        ("content-type", "application/json"),
        ("accept", "text/event-stream" if stream else "application/json"),
        ("accept-encoding", UPSTREAM_ACCEPT_ENCODING),
    ]
    if agent := header_value(client, "user-agent"):
        out.append(("user-agent", agent))
    if fmt == "anthropic":
        out.append(("anthropic-version", "2023-06-01"))
    if key:
        out += auth_headers(fmt, key)
    return out


class TranslatedLeg:
    """Upstream answers in its API; the client gets them in its own, event by event."""

    def __init__(self, exchange: Exchange, route: Route, ctx: TranslationContext) -> None:
        self._exchange, self._route, self._ctx = exchange, route, ctx
        self._decoder = SSEDecoder()
        self._translator: StreamTranslator | None = None
        self.usage: Usage | None = None
        self._answer: AnswerSummary | None = None

    @property
    def notes(self) -> list[str]:
        """What the translation changed or dropped (the context's notes)."""
        return self._ctx.notes

    def whole(
        self, status: int, body: bytes, headers: list[Header]
    ) -> tuple[int, RawHeaders, bytes]:
        kept: RawHeaders = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in headers
            if k in _KEPT_FROM_UPSTREAM
        ]
        json_headers: RawHeaders = [(b"content-type", b"application/json"), *kept]
        if status >= 400:
            status, out = self._route.translate_error(status, body, self._ctx)
            return status, json_headers, out
        try:
            response = self._route.parse_response(body, self._ctx)
            out = self._route.client.render_response(response, self._ctx)
        except (TranslationError, msgspec.MsgspecError, ValueError) as exc:
            message = f"the upstream's answer could not be translated: {exc}"
            self._exchange.notes.append(message)
            status, out = self._route.translate_error(502, message.encode(), self._ctx)
            return status, json_headers, out
        self.usage = response.usage
        self._answer = AnswerSummary(response.usage, response.model or None, [response.stop_reason])
        return status, json_headers, out

    def summary(self) -> AnswerSummary | None:
        """What the upstream answered, as the translation already read it (nothing parsed twice)."""
        if self._translator is not None:
            t = self._translator
            return AnswerSummary(t.usage, t.model, list(t.finish_reasons))
        return self._answer

    def stream_headers(self, headers: list[Header]) -> RawHeaders:
        return list(SSE_HEADERS)

    def _translator_now(self) -> StreamTranslator:
        if self._translator is None:
            self._translator = self._route.stream_translator(self._ctx)
        return self._translator

    def _emit(self, out: list[bytes], t_ms: float) -> bytes:
        if not out:
            return b""
        events = self._exchange.client_events
        for item in out:
            events.append(StreamEvent(t_ms, item))
        return out[0] if len(out) == 1 else b"".join(out)

    def feed(self, chunk: bytes, t_ms: float) -> bytes:
        translator = self._translator or self._translator_now()
        raw_events = self._exchange.raw_events
        out: list[bytes] = []
        for event in self._decoder.feed(chunk):
            raw_events.append(StreamEvent(t_ms, event.raw))
            out += translator.feed(event)
        self.usage = translator.usage
        if translator.failure is not None:
            self._record_failure(translator)
        return self._emit(out, t_ms)

    def record(self, chunk: bytes, t_ms: float) -> None:
        """Nothing: a translation records as it reads (it must read an event to send it)."""

    def finish(self, t_ms: float) -> bytes:
        translator = self._translator_now()
        out: list[bytes] = []
        for event in self._decoder.close():
            self._exchange.raw_events.append(StreamEvent(t_ms, event.raw))
            out += translator.feed(event)
        out += translator.finish()
        self.usage = translator.usage
        self._record_failure(translator)
        return self._emit(out, t_ms)

    def _record_failure(self, translator: StreamTranslator) -> None:
        """An upstream that reported an error in-band, or stopped before its final event."""
        if translator.failure is not None and self._exchange.error is None:
            _, message = translator.failure
            name: ErrorKindName = "stream_cut" if translator.cut else "upstream_status"
            self._exchange.error = ErrorInfo(name, message)

    def fail(self, kind: ErrorKind, message: str, t_ms: float) -> bytes:
        return self._emit(self._translator_now().fail(kind, message), t_ms)
