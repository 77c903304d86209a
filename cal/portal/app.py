"""The portal app: status page and JSON, the control endpoint `cal obs stop` uses, /metrics."""

from __future__ import annotations

import hmac
import html
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec
import trio
from quart import Response, request
from quart_trio import QuartTrio

from cal.config import Settings

StatusFn = Callable[[], dict[str, Any]]
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def create_portal_app(
    settings: Settings,
    status: StatusFn,
    stop: trio.Event,
    control_token: str,
    metrics: Callable[[], tuple[bytes, str]] | None = None,
) -> QuartTrio:
    """Build the portal; `status` is read on every request, `stop` is set by the control call."""
    app = QuartTrio("cal.portal", static_folder=None)
    app.config.update(RESPONSE_TIMEOUT=None, BODY_TIMEOUT=None, MAX_CONTENT_LENGTH=1024 * 1024)
    allowed = _allowed_hosts(settings)

    @app.before_request
    async def _guard_host() -> Response | None:
        host = urlsplit("//" + (request.host or "")).hostname or ""
        if allowed and host.lower() not in allowed:
            return Response("unknown Host header", status=421, mimetype="text/plain")
        return None

    @app.after_request
    async def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'"
        )
        return response

    @app.get("/debug/obs")
    @app.get("/debug/obs/")
    async def index() -> Response:
        return Response(render_status_page(status()), mimetype="text/html")

    @app.get("/debug/obs/api/status")
    async def api_status() -> Response:
        return Response(msgspec.json.encode(status()), mimetype="application/json")

    @app.post("/debug/obs/api/control/stop")
    async def control_stop() -> Response:
        given = request.headers.get("X-CAL-Control-Token", "")
        if not hmac.compare_digest(given.encode(), control_token.encode()):
            return Response('{"error":"forbidden"}', status=403, mimetype="application/json")
        stop.set()
        return Response('{"stopping":true}', mimetype="application/json")

    from cal.portal.requests import create_requests_blueprint

    app.register_blueprint(create_requests_blueprint(settings), url_prefix="/debug/obs")

    if metrics is not None:

        @app.get("/metrics")
        async def prometheus() -> Response:
            body, content_type = metrics()
            return Response(body, content_type=content_type)

    return app


def _allowed_hosts(settings: Settings) -> frozenset[str]:
    hosts = set(_LOCAL_HOSTS)
    hosts.add(settings.portal_host.lower())
    if settings.viewer_public_url:
        public = urlsplit(settings.viewer_public_url).hostname
        if public:
            hosts.add(public.lower())
    if settings.portal_host in ("0.0.0.0", "::"):
        return frozenset()  # bound to every address: the profile's auth decides, not the Host
    return frozenset(hosts)


def render_status_page(status: dict[str, Any]) -> str:
    """The portal's landing page: version, listeners, endpoints and their state; no secrets."""
    esc = html.escape
    listeners = "".join(
        f"<li>{esc(name)}: <a href='{esc(url)}'>{esc(url)}</a></li>"
        for name, url in status["listeners"].items()
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{esc(str(v))}</td>"
            for v in (
                ("● " if e["active"] else "") + e["name"],
                e["format"],
                e["url"],
                e["priority"],
                "enabled" if e["enabled"] else "disabled",
                e["api_key"] or (f"${e['api_key_env']}" if e["api_key_env"] else "client's own"),
            )
        )
        + "</tr>"
        for e in status["endpoints"]
    )
    if not rows:
        rows = "<tr><td colspan=6>No endpoint yet: <code>cal endpoint add NAME --url URL --format FMT</code></td></tr>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cal Debug Portal</title>
<style>body{{font:14px system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}
code{{background:#f3f3f3;padding:0 .2rem}}</style></head>
<body><h1>CodeAgentLens Debug Portal</h1>
<p>cal {esc(status["version"])} · run <code>{esc(status["run_id"])}</code>
{" · demo mode" if status.get("demo") else ""}</p>
<h2>Listeners</h2><ul>{listeners}</ul>
<h2>Endpoints</h2>
<table><tr><th>name</th><th>format</th><th>url</th><th>priority</th><th>state</th><th>key</th></tr>
{rows}</table>
<h2>Requests</h2>
<p><a href="/debug/obs/prompts">Browse and search recorded requests</a> ·
<a href="/debug/obs/api/requests">requests JSON</a> · <a href="/debug/obs/api/status">status JSON</a> ·
<a href="/metrics">Prometheus metrics</a></p>
</body></html>"""
