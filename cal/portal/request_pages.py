"""Minimal HTML for the request pages (pure): every value escaped, every link segment quoted."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from cal.store.requests import RequestRow

BASE = "/debug/obs"
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:.5rem;"
    "white-space:pre-wrap;word-break:break-word}.err{color:#b00}"
)


def _q(value: str) -> str:
    return quote(value, safe="")


def links(row: RequestRow) -> dict[str, str]:
    """The portal links of a request (paths under /debug/obs)."""
    request_id = _q(row.request_id)
    return {
        "request": f"{BASE}/request/{request_id}",
        "prompts": f"{BASE}/request/{request_id}/prompts",
        "trace": f"{BASE}/trace/{_q(row.trace_id)}",
        "ref": f"{BASE}/ref/{_q(row.trace_id)}/{request_id}",
        "api": f"{BASE}/api/request/{request_id}",
    }


def _page(title: str, body: str) -> str:
    nav = (
        f'<nav><a href="{BASE}/">Portal</a> · <a href="{BASE}/prompts">Prompts</a> · '
        f'<a href="{BASE}/api/requests">Requests (JSON)</a></nav>'
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · cal</title><style>{_STYLE}</style></head>"
        f"<body>{nav}<h1>{escape(title)}</h1>{body}</body></html>"
    )


def _a(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def _table(rows: Iterable[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _when(started_at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started_at)) + "Z"


def error_page(status: int, message: str) -> str:
    """A page saying what went wrong."""
    return _page(f"{status}", f'<p class="err">{escape(message)}</p>')


def _summary(row: RequestRow) -> list[tuple[str, str]]:
    link = links(row)
    usage = (
        f"in {row.input_tokens} · out {row.output_tokens} · cache read {row.cache_read_tokens}"
        f" · cache write {row.cache_write_tokens} · reasoning {row.reasoning_tokens}"
        f" ({row.usage_source})"
    )
    shown: list[tuple[str, str]] = [
        ("request_id", escape(row.request_id)),
        ("trace_id", _a(link["trace"], row.trace_id)),
        ("obs_ref", _a(link["ref"], row.obs_ref)),
        ("run_id", escape(row.run_id)),
        ("time", escape(_when(row.started_at))),
        ("client", escape(row.client_name or "")),
        ("session", escape(row.session_id or "")),
        ("source", escape(row.source_tag or "")),
        ("call", escape(f"{row.method} {row.path}")),
        ("route", escape(row.route or row.client_format)),
        ("endpoint", escape(row.endpoint or "")),
        ("model", escape(row.model or "")),
        ("stream", "yes" if row.stream else "no"),
        ("status", escape(str(row.status))),
        ("attempts", str(row.attempts)),
        ("ttfb / duration", escape(f"{_ms(row.ttfb_ms)} / {_ms(row.duration_ms)}")),
        ("usage", escape(usage)),
    ]
    if row.error_kind:
        error = f"{row.error_kind}: {row.error_message or ''}"
        shown.append(("error", f'<span class="err">{escape(error)}</span>'))
    return shown


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def request_page(row: RequestRow, manifest: Mapping[str, Any] | None) -> str:
    """The request overview: summary, prompts and every manifest file."""
    link = links(row)
    body = _table(_summary(row))
    if manifest is None:
        return _page(f"Request {row.request_id}", body + "<p>No bundle on disk for it.</p>")
    base = link["request"]
    prompt_items = "".join(
        f"<li>{_a(base + '/body/' + _q(str(p.get('file'))), str(p.get('file')))}"
        f" ({escape(str(p.get('chars')))} chars)</li>"
        for p in manifest.get("prompts", [])
    )
    files = "".join(
        f"<tr><td>{_a(base + '/artifact/' + _q(str(f.get('name'))), str(f.get('name')))}"
        f" ({_a(base + '/body/' + _q(str(f.get('name'))), 'raw')})</td>"
        f"<td>{escape(str(f.get('bytes')))}</td><td><code>{escape(str(f.get('sha256')))}</code>"
        f"</td><td>{_flags(f)}</td></tr>"
        for f in manifest.get("files", [])
    )
    body += f"<h2>Prompts</h2><p>{_a(link['prompts'], 'all prompts')}</p><ul>{prompt_items}</ul>"
    body += (
        "<h2>Files</h2><table><tr><th>name</th><th>bytes</th><th>sha256</th><th></th></tr>"
        f"{files}</table><p>{_a(base + '/body/prompt.index.json', 'prompt.index.json')}</p>"
    )
    return _page(f"Request {row.request_id}", body)


def artifact_page(request_id: str, name: str, text: str) -> str:
    """One artifact shown in a page, with a link to its raw bytes."""
    base = f"{BASE}/request/{_q(request_id)}"
    raw = _a(f"{base}/body/{_q(name)}", "raw")
    back = _a(base, request_id)
    return _page(name, f"<p>{back} · {raw}</p><pre>{escape(text)}</pre>")


def _flags(entry: Mapping[str, Any]) -> str:
    flags = [name for name in ("truncated", "redacted") if entry.get(name)]
    return escape(", ".join(flags))


def prompts_page(row: RequestRow, prompts: list[tuple[str, str, str]]) -> str:
    """Every prompt of a request, in request order."""
    if not prompts:
        return _page(f"Prompts of {row.request_id}", "<p>No prompts captured for this request.</p>")
    base = links(row)["request"]
    parts = [
        f"<h2>{escape(role)} · {_a(base + '/body/' + _q(name), name)}</h2><pre>{escape(text)}</pre>"
        for role, name, text in prompts
    ]
    return _page(f"Prompts of {row.request_id}", "".join(parts))


def _rows_table(rows: Iterable[RequestRow]) -> str:
    head = (
        "<tr><th>time</th><th>request</th><th>client</th><th>model</th><th>status</th>"
        "<th>roles</th><th>prompts</th></tr>"
    )
    lines = "".join(
        f"<tr><td>{escape(_when(r.started_at))}</td><td>{_a(links(r)['request'], r.request_id)}"
        f"</td><td>{escape(r.client_name or '')}</td><td>{escape(r.model or '')}</td>"
        f"<td>{escape(str(r.status))}</td><td>{escape(r.prompt_roles)}</td>"
        f"<td>{_a(links(r)['prompts'], str(r.prompt_count))}</td></tr>"
        for r in rows
    )
    return f"<table>{head}{lines}</table>"


def trace_page(trace_id: str, rows: list[RequestRow]) -> str:
    """Every request of a trace."""
    return _page(f"Trace {trace_id}", _rows_table(rows))


def search_page(
    args: Mapping[str, str], rows: list[RequestRow], total: int, limit: int, offset: int
) -> str:
    """The prompt search form and one page of results."""
    fields = ("q", "role", "run", "client", "model")
    inputs = "".join(
        f'<label>{escape(n)} <input name="{n}" value="{escape(args.get(n, ""))}"></label> '
        for n in fields
    )
    form = f'<form method="get" action="{BASE}/prompts">{inputs}<button>search</button></form>'
    nav = []
    kept = {k: v for k, v in args.items() if k in fields and v}
    if offset > 0:
        query = urlencode({**kept, "limit": limit, "offset": max(0, offset - limit)})
        nav.append(_a(f"{BASE}/prompts?{query}", "newer"))
    if offset + limit < total:
        query = urlencode({**kept, "limit": limit, "offset": offset + limit})
        nav.append(_a(f"{BASE}/prompts?{query}", "older"))
    shown = f"<p>{total} request(s) with prompts. {' · '.join(nav)}</p>"
    return _page("Prompts", form + shown + _rows_table(rows))
