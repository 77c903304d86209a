"""The gateway's ASGI app: routes of DESIGN §4, nothing else (the portal has its own listener)."""

from __future__ import annotations

import logging

import msgspec
import trio

from cal import __version__
from cal.formats import ApiFormat
from cal.formats.routes import ClientRoute, guess_format, match_route
from cal.formats.upstream import join_url
from cal.gateway.asgi import JSON, GatewayRequest, Receive, Scope, Send, new_request_id
from cal.gateway.headers import decode_headers, header_value, upstream_headers
from cal.gateway.pipeline import GatewayDeps, endpoint_key, handle_generate, new_exchange
from cal.gateway.upstream import MAPPED_CLIENT_ERRORS, UpstreamFailure
from cal.gateway.websocket import WebSocketBridge
from cal.routing.model import Endpoint
from cal.telemetry.traceparent import new_span_id, new_trace_id, parse_traceparent

log = logging.getLogger(__name__)

_MODELS_TIMEOUT_S = 5.0


class GatewayApp:
    """ASGI callable serving model traffic."""

    def __init__(self, deps: GatewayDeps) -> None:
        self.deps = deps
        self.websocket = WebSocketBridge(self, deps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)
        elif kind == "websocket":
            await self.websocket.serve(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace = parse_traceparent(_raw_header(scope, b"traceparent"))
        trace_id = trace[0] if trace else new_trace_id()
        request = GatewayRequest(scope, receive, send, new_request_id(), trace_id)
        path, method = scope["path"], scope["method"]
        route = None if path.startswith("/debug/obs") else match_route(method, path)
        if route is None:
            names = frozenset(k.decode("latin-1") for k, _ in scope["headers"])
            fmt = guess_format(path, names)
            await request.respond_error(fmt, "not_found", f"no route for {method} {path}")
            return
        if route.operation == "health":
            await request.respond(200, [(b"content-type", JSON)], self._health())
        elif route.operation == "models":
            await self._models(request, route)
        else:
            span_id = new_span_id()
            parent = trace[1] if trace else None
            exchange = new_exchange(request, route, span_id, parent, self.deps.run_id)
            try:
                await handle_generate(request, route, exchange, self.deps)
            except Exception:  # a bug in cal: still an answer in the client's own shape
                log.exception("internal error serving %s %s", method, path)
                if not request.response_started:
                    await request.respond_error(route.format, "api_error", "internal error in cal")

    def _health(self) -> bytes:
        snapshot = self.deps.registry.snapshot
        active = snapshot.choose()
        return msgspec.json.encode(
            {
                "status": "ok",
                "version": __version__,
                "run_id": self.deps.run_id,
                "endpoints_enabled": len(snapshot.enabled()),
                "active_endpoint": active.name if active else None,
            }
        )

    async def _models(self, request: GatewayRequest, route: ClientRoute) -> None:
        headers = decode_headers(request.scope["headers"])
        fmt: ApiFormat = route.format
        if route.format != "gemini" and header_value(headers, "anthropic-version"):
            fmt = "anthropic"
        endpoints = self.deps.registry.snapshot.enabled()
        names: dict[str, str] = {}
        async with trio.open_nursery() as nursery:
            for endpoint in endpoints:
                nursery.start_soon(self._collect_models, endpoint, headers, names)
        await request.respond(200, [(b"content-type", JSON)], _models_body(fmt, names))

    async def _collect_models(
        self, endpoint: Endpoint, headers: list[tuple[str, str]], names: dict[str, str]
    ) -> None:
        """Model ids of one endpoint: its model map's names, plus what its upstream lists."""
        for alias in endpoint.model_map:
            if alias != "*":
                names.setdefault(alias, endpoint.name)
        path = "/v1beta/models" if endpoint.format == "gemini" else "/models"
        if endpoint.format == "anthropic":
            path = "/v1/models"
        client = self.deps.pool.client_for(endpoint)
        key = endpoint_key(endpoint)
        sent = [
            h for h in upstream_headers(headers, endpoint.format, key) if h[0] != "content-type"
        ]
        if endpoint.format == "anthropic" and not any(k == "anthropic-version" for k, _ in sent):
            sent.append(("anthropic-version", "2023-06-01"))
        url = join_url(endpoint.url, path)
        try:
            with trio.fail_after(_MODELS_TIMEOUT_S), MAPPED_CLIENT_ERRORS:
                connect_s = self.deps.pool.connect_timeout_for(endpoint)
                response = await client.send("GET", url, sent, b"", connect_timeout_s=connect_s)
                try:
                    status, body = response.status, await response.read()
                finally:
                    response.close()
            if status == 200:
                for model_id in _model_ids(body):
                    names.setdefault(model_id, endpoint.name)
        except (UpstreamFailure, trio.TooSlowError, msgspec.DecodeError) as exc:
            log.info("could not list models of endpoint %s: %r", endpoint.name, exc)


class _ModelItem(msgspec.Struct):
    id: str | None = None
    name: str | None = None


class _ModelList(msgspec.Struct):
    data: list[_ModelItem] = []
    models: list[_ModelItem] = []


def _model_ids(body: bytes) -> list[str]:
    listing = msgspec.json.decode(body, type=_ModelList)
    ids = [m.id for m in listing.data if m.id]
    ids += [m.name.removeprefix("models/") for m in listing.models if m.name]
    return ids


def _models_body(fmt: ApiFormat, names: dict[str, str]) -> bytes:
    ordered = sorted(names.items())
    if fmt == "gemini":
        return msgspec.json.encode(
            {"models": [{"name": f"models/{m}", "displayName": m} for m, _ in ordered]}
        )
    if fmt == "anthropic":
        data: list[dict[str, object]] = [
            {"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"}
            for m, _ in ordered
        ]
        first = ordered[0][0] if ordered else None
        last = ordered[-1][0] if ordered else None
        return msgspec.json.encode(
            {"data": data, "has_more": False, "first_id": first, "last_id": last}
        )
    data = [{"id": m, "object": "model", "created": 0, "owned_by": e} for m, e in ordered]
    return msgspec.json.encode({"object": "list", "data": data})


def _raw_header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
