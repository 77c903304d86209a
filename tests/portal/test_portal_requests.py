"""The request read API and pages, through quart's test client on a small QuartTrio app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec
import pytest
import trio
from quart_trio import QuartTrio

from cal.capture.model import Attempt, ErrorInfo, Exchange, StreamEvent, Usage
from cal.capture.writer import CaptureWriter
from cal.config import Settings
from cal.portal.requests import create_requests_blueprint, is_traversal

RUN = "run_20261121T160000_aaaaaa"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SECRET = "sk-ant-api03-" + "Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2Gg1Ff0Dd9Ss8Aa7Qq6Ww5Ee4Rr3Tt2Yy1Uu0Ii"


def _exchange(n: int, **overrides: Any) -> Exchange:
    body = {
        "model": "claude-opus-5-5",
        "system": "be <careful> & exact",
        "messages": [{"role": "user", "content": f"question {n} <script>alert(1)</script>"}],
    }
    fields: dict[str, Any] = {
        "request_id": f"req-{n:03d}",
        "trace_id": TRACE if n < 2 else f"{n:032x}",
        "span_id": f"{n:016x}",
        "run_id": RUN,
        "started_at": 1_795_000_000.0 + n,
        "method": "POST",
        "path": "/v1/messages",
        "query": "beta=true",
        "client_format": "anthropic",
        "client_headers": [("user-agent", "claude-cli/2.1.330"), ("x-api-key", SECRET)],
        "client_body": msgspec.json.encode(body),
        "client_name": "Claude Code" if n % 2 else "Codex",
        "session_id": "sess-a",
        "stream": True,
        "model": "claude-opus-5-5",
        "endpoint": "main",
        "route": "anthropic->anthropic",
        "status": 200,
        "attempts": [Attempt(0, "main", "anthropic", "https://up.test/v1/messages", status=200)],
        "raw_events": [StreamEvent(5.0, b'event: ping\ndata: {"type":"ping"}\n\n')],
        "usage": Usage(input_tokens=7, output_tokens=2, source="upstream"),
    }
    fields.update(overrides)
    exchange = Exchange(**fields)
    exchange.client_events = exchange.raw_events
    return exchange


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[Any]:
    settings = make_settings()
    writer = CaptureWriter(settings)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run, stop)
        for n in range(5):
            extra: dict[str, Any] = {}
            if n == 3:
                extra = {"status": 529, "error": ErrorInfo("upstream_status", "overloaded", 529)}
            assert writer.submit_nowait(_exchange(n, **extra))
        stop.set()
    assert writer.statistics().written == 5
    app = QuartTrio(__name__)
    app.register_blueprint(create_requests_blueprint(settings), url_prefix="/debug/obs")
    async with app.test_app() as test_app:
        yield test_app.test_client()


async def _json(client: Any, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status_code == status, path
    return msgspec.json.decode(await response.get_data())


async def _text(client: Any, path: str, status: int = 200) -> str:
    response = await client.get(path)
    assert response.status_code == status, path
    data: bytes = await response.get_data()
    return data.decode()


async def test_list_filters_and_pagination(client: Any) -> None:
    everything = await _json(client, "/debug/obs/api/requests")
    assert everything["total"] == 5
    assert [r["request_id"] for r in everything["requests"]][:2] == ["req-004", "req-003"]
    assert everything["requests"][0]["links"]["request"] == "/debug/obs/request/req-004"
    page = await _json(client, "/debug/obs/api/requests?limit=2&offset=2")
    assert [r["request_id"] for r in page["requests"]] == ["req-002", "req-001"]
    errors = await _json(client, "/debug/obs/api/requests?errors=1")
    assert [r["request_id"] for r in errors["requests"]] == ["req-003"]
    search = await _json(client, "/debug/obs/api/requests?q=question%202")
    assert [r["request_id"] for r in search["requests"]] == ["req-002"]
    codex = await _json(client, f"/debug/obs/api/requests?client=Codex&run={RUN}&session=sess-a")
    assert [r["request_id"] for r in codex["requests"]] == ["req-004", "req-002", "req-000"]
    assert (await _json(client, "/debug/obs/api/requests?status=529"))["total"] == 1
    assert (await _json(client, "/debug/obs/api/requests?since=1795000003.5"))["total"] == 1
    assert (await _json(client, "/debug/obs/api/requests?model=none"))["total"] == 0
    facets = await _json(client, "/debug/obs/api/requests/facets")
    assert facets["client_name"] == ["Codex", "Claude Code"] and facets["run_id"] == [RUN]


async def test_detail_and_trace(client: Any) -> None:
    detail = await _json(client, "/debug/obs/api/request/req-001")
    assert detail["request"]["obs_ref"] == f"{TRACE}/req-001"
    names = [f["name"] for f in detail["manifest"]["files"]]
    assert "ingress.request.body.raw" in names and "prompt.user.txt" in names
    trace = await _json(client, f"/debug/obs/api/trace/{TRACE}")
    assert [r["request_id"] for r in trace["requests"]] == ["req-000", "req-001"]
    await _json(client, "/debug/obs/api/request/req-999", 404)
    await _json(client, "/debug/obs/api/trace/ffff", 404)


async def test_pages_escape_everything(client: Any) -> None:
    page = await _text(client, "/debug/obs/request/req-002")
    assert "prompt.user.txt" in page and "<script>" not in page
    prompts = await _text(client, "/debug/obs/request/req-002/prompts")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in prompts and "<script>" not in prompts
    assert "be &lt;careful&gt; &amp; exact" in prompts
    trace = await _text(client, f"/debug/obs/trace/{TRACE}")
    assert "req-000" in trace and "req-001" in trace
    ref = await _text(client, f"/debug/obs/ref/{TRACE}/req-001")
    assert "req-001" in ref
    await _text(client, f"/debug/obs/ref/{TRACE}/req-002", 404)
    await _text(client, "/debug/obs/trace/abcdef", 404)
    search = await _text(client, "/debug/obs/prompts?q=question&role=user&limit=2")
    assert "5 request(s) with prompts" in search and "older" in search
    assert "req-004" in search and "req-002" not in search


async def test_manifest_bound_artifacts(client: Any) -> None:
    body = await _text(client, "/debug/obs/request/req-001/body/ingress.request.body.raw")
    assert "question 1" in body
    headers = await _text(client, "/debug/obs/request/req-001/body/ingress.request.headers.json")
    assert SECRET not in headers and "sk-ant-api03-..." in headers
    manifest = await _text(client, "/debug/obs/request/req-001/body/prompt.index.json")
    assert '"files"' in manifest
    assert (
        await _text(client, "/debug/obs/request/req-001/prompt/user")
        == "question 1 <script>alert(1)</script>"
    )
    assert (await _text(client, "/debug/obs/request/req-001/prompt/system")).startswith(
        "be <careful>"
    )
    raw = await _text(client, "/debug/obs/request/req-001/stream/raw")
    assert msgspec.json.decode(raw.splitlines()[0])["t_ms"] == 5.0
    await _text(client, "/debug/obs/request/req-001/stream/transformed")
    viewer = await _text(client, "/debug/obs/request/req-001/artifact/prompt.user.txt")
    assert "&lt;script&gt;" in viewer and "<script>" not in viewer
    await _text(client, "/debug/obs/request/req-001/artifact/nope.txt", 404)
    await _text(client, "/debug/obs/request/req-001/stream/other", 400)
    await _text(client, "/debug/obs/request/req-001/body/not.in.manifest", 404)
    await _text(client, "/debug/obs/request/req-001/body/error.json", 404)
    await _text(client, "/debug/obs/request/req-001/prompt/user.2", 404)
    await _text(client, "/debug/obs/request/req-999/body/usage.json", 404)


@pytest.mark.parametrize(
    "path",
    [
        "/debug/obs/request/req-001/body/..",
        "/debug/obs/request/req-001/body/../../../../etc/passwd",
        "/debug/obs/request/req-001/body/%2e%2e",
        "/debug/obs/request/req-001/body/..%2f..%2fprompt.index.json",
        "/debug/obs/request/req-001/body/%2E%2E%2F%2E%2E%2Fsecret.key",
        "/debug/obs/request/..%5c..%5csecret.key/body/x",
        "/debug/obs/ref/../req-001",
        "/debug/obs/request/req-001/body/a\\b",
    ],
)
async def test_traversal_attempts_are_400(client: Any, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 400, path


def test_is_traversal_checks_the_raw_path_too() -> None:
    assert is_traversal("/debug/obs/request/a/body/x/y", b"/debug/obs/request/a/body/x%2Fy")
    assert is_traversal("/debug/obs/x", b"/debug/obs/%2e%2e/x")
    assert not is_traversal(
        "/debug/obs/request/a/body/usage.json", b"/debug/obs/request/a/body/usage.json"
    )


async def test_encoded_traversal_through_a_real_server_is_400(
    make_settings: Callable[..., Settings],
) -> None:
    import httpx

    from cal.serve import serve_asgi

    settings = make_settings()
    app = QuartTrio(__name__)
    app.register_blueprint(create_requests_blueprint(settings), url_prefix="/debug/obs")
    stop = trio.Event()
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(serve_asgi, app, "127.0.0.1", 0, stop)
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
                for path in (
                    "/debug/obs/request/req-001/body/x%2Fy",
                    "/debug/obs/request/req-001/body/..%2F..%2Fcode-agent-lens.db",
                    "/debug/obs/request/req-001/body/%2e%2e",
                    "/debug/obs/request/req-001/body/a%5Cb",
                ):
                    response = await http.get(path)
                    assert response.status_code == 400, path
                missing = await http.get("/debug/obs/request/req-001/body/usage.json")
                assert missing.status_code == 404
            stop.set()
