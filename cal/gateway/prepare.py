"""An upstream call ready to send to one endpoint: URL, headers, body, and the leg for its answer.

Each attempt prepares its own call, so a failover to an endpoint of another format translates
the client's request afresh for it.
"""

from __future__ import annotations

import re

import msgspec

from cal.capture.model import Exchange
from cal.formats.errors import ErrorKind
from cal.formats.routes import ClientRoute
from cal.formats.upstream import api_path, join_url
from cal.gateway.asgi import RequestRefused
from cal.gateway.headers import Header, strip_query_key, upstream_headers
from cal.gateway.legs import Leg, PassThroughLeg
from cal.gateway.translated import (
    TranslatedLeg,
    client_credential,
    translated_headers,
    translation_context,
)
from cal.routing.model import Endpoint
from cal.transform import RouteUnavailable, TranslationError, lookup
from cal.transform.passthrough import strip_envelopes

_OURS = "x-cal-"
"""Headers a client sends to cal itself (X-CAL-Endpoint): never forwarded upstream."""


class Prepared:
    """An upstream call ready to send, and the leg that turns its answer into the client's."""

    def __init__(self, url: str, headers: list[Header], body: bytes, leg: Leg) -> None:
        self.url, self.headers, self.body, self.leg = url, headers, body, leg


def with_model(body: bytes, model: str) -> bytes:
    """`body` with its top-level `model` replaced and every other byte kept.

    When the `"model": value` pair occurs once, only the value's bytes are swapped (whitespace
    and key order stay); when it is ambiguous (the same pair nested too) or absent, the top-level
    object is re-encoded from `dict[str, msgspec.Raw]`, which still keeps every value verbatim.
    """
    fields = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    new = msgspec.json.encode(model)
    old = fields.get("model")
    if old is not None:
        matches = list(re.finditer(rb'"model"\s*:\s*' + re.escape(bytes(old)), body))
        if len(matches) == 1:
            end = matches[0].end()
            return body[: end - len(old)] + new + body[end:]
    fields["model"] = msgspec.Raw(new)
    return msgspec.json.encode(fields)


def prepare(
    route: ClientRoute,
    exchange: Exchange,
    endpoint: Endpoint,
    body: bytes,
    body_model: str | None,
    key: str | None,
    *,
    unsealed: bool = False,
) -> Prepared:
    """The call for `endpoint` with `key` (None: the client's own credential is forwarded).

    `body_model` is the model as the body names it (maybe `@endpoint/model`); `exchange.model`
    is the model the client meant. `unsealed`: the body is known to hold no reasoning envelope
    (see `UnsealedAnthropicMessage`), so a pass-through need not look for one.
    """
    if endpoint.format == route.format:
        return _pass_through(route, exchange, endpoint, body, body_model, key, unsealed)
    return _translated(route, exchange, endpoint, body, key)


def _not_ours(headers: list[Header]) -> list[Header]:
    return [h for h in headers if not h[0].startswith(_OURS)]


def _pass_through(
    route: ClientRoute,
    exchange: Exchange,
    endpoint: Endpoint,
    body: bytes,
    body_model: str | None,
    key: str | None,
    unsealed: bool,
) -> Prepared:
    model = endpoint.map_model(exchange.model)
    stripped = None if unsealed else strip_envelopes(route.format, body)
    if stripped is not None:  # a conversation that crossed APIs carries our reasoning envelopes
        body, count = stripped
        exchange.notes.append(
            f"removed {count} reasoning block(s) sealed for another API before pass-through"
        )
    path = route.upstream_path
    if route.format == "gemini" and route.operation == "generate":
        path = api_path("gemini", model=model, stream=bool(route.path_stream))
        path = path.partition("?")[0]  # the client's own query (alt=sse) follows
    elif model != body_model and model is not None:
        body = with_model(body, model)
    query = exchange.query if not key else strip_query_key(exchange.query)
    url = join_url(endpoint.url, path, query)
    headers = _not_ours(upstream_headers(exchange.client_headers, endpoint.format, key))
    return Prepared(url, headers, body, PassThroughLeg(exchange, route.format))


def _translated(
    route: ClientRoute, exchange: Exchange, endpoint: Endpoint, body: bytes, key: str | None
) -> Prepared:
    try:
        translation = lookup(route.format, endpoint.format)
    except RouteUnavailable as exc:
        raise RequestRefused(
            "invalid_request",
            f"endpoint {endpoint.name!r} speaks {endpoint.format}: {exc}",
            exchange_kind="translation",
        ) from None
    model = endpoint.map_model(exchange.model)
    ctx = translation_context(exchange, model)
    try:
        upstream_body = translation.translate_request(body, ctx)
    except TranslationError as exc:
        exchange.notes += ctx.notes
        kind: ErrorKind = "request_too_large" if exc.status_hint == 413 else "invalid_request"
        raise RequestRefused(kind, str(exc), exchange_kind="translation") from None
    exchange.transform_input, exchange.transform_output = body, upstream_body
    key = key or client_credential(exchange.client_headers, exchange.query)
    path = api_path(endpoint.format, model=model, stream=exchange.stream)
    url = join_url(endpoint.url, path)
    headers = translated_headers(exchange.client_headers, endpoint.format, key, exchange.stream)
    return Prepared(url, headers, upstream_body, TranslatedLeg(exchange, translation, ctx))
