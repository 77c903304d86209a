"""probe_endpoint against cal's mock provider (every format) served on 127.0.0.1:0.

Two provider quirks the mock does not play (a model that refuses `max_tokens`, an HTML page
answering 200) come from a small ASGI app in this file.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import msgspec
import pytest
import trio

from cal.formats import ApiFormat
from cal.gateway.probe import (
    DEFAULT_MODELS,
    error_message,
    probe_body,
    probe_endpoint,
    probe_model,
    reply_text,
)
from cal.mock import MockProvider
from cal.routing.model import Endpoint
from cal.serve import serve_asgi

KEY = "sk-test-key-0123456789"
MOCK_REPLY = "Hello from the cal mock provider. You said: ping"


@asynccontextmanager
async def _serve(app: Any) -> AsyncIterator[str]:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        server = partial(serve_asgi, graceful_timeout=0.2)
        host, port = await nursery.start(server, app, "127.0.0.1", 0, stop)
        yield f"http://{host}:{port}"
        stop.set()


@pytest.fixture
async def mock() -> AsyncIterator[tuple[MockProvider, str]]:
    app = MockProvider()
    async with _serve(app) as base:
        yield app, base


def _endpoint(fmt: ApiFormat, base: str, **fields: Any) -> Endpoint:
    url = base + ("/v1" if fmt.startswith("openai") else "")
    return Endpoint(name=f"t-{fmt}", url=url, format=fmt, **fields)


@pytest.mark.parametrize("fmt", ["anthropic", "openai-chat", "openai-responses", "gemini"])
async def test_each_format_answers(mock: tuple[MockProvider, str], fmt: ApiFormat) -> None:
    app, base = mock
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint(fmt, base), KEY)
    assert (result.ok, result.status, result.message) == (True, 200, MOCK_REPLY)
    assert result.model == DEFAULT_MODELS[fmt]
    assert result.latency_ms > 0
    sent = app.received[-1]
    assert sent.body == msgspec.json.encode(probe_body(fmt, DEFAULT_MODELS[fmt]))
    if fmt == "anthropic":
        assert (sent.header("x-api-key"), sent.header("anthropic-version")) == (KEY, "2023-06-01")
    elif fmt == "gemini":
        assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent"
        assert sent.header("x-goog-api-key") == KEY
    else:
        assert sent.header("authorization") == f"Bearer {KEY}"


@pytest.mark.parametrize("fmt", ["anthropic", "openai-chat", "openai-responses", "gemini"])
async def test_provider_error_message_is_reported(
    mock: tuple[MockProvider, str], fmt: ApiFormat
) -> None:
    _, base = mock
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint(fmt, base), KEY, model="m+status=401")
    assert (result.ok, result.status) == (False, 401)
    assert result.message == "HTTP 401 (cal mock fault)."  # error.message of each API's shape


async def test_no_key_sends_no_credential(mock: tuple[MockProvider, str]) -> None:
    app, base = mock
    with trio.fail_after(10):
        await probe_endpoint(_endpoint("openai-chat", base), None)
    assert app.received[-1].header("authorization") is None


async def test_model_choice_reaches_the_provider(mock: tuple[MockProvider, str]) -> None:
    app, base = mock
    endpoint = _endpoint("gemini", base, model_map={"*": "gemini-2.5-pro"})
    with trio.fail_after(10):
        await probe_endpoint(endpoint, KEY)
        await probe_endpoint(endpoint, KEY, model="gemini-flash-lite")
    assert [r.path.split(":")[0] for r in app.received] == [
        "/v1beta/models/gemini-2.5-pro",
        "/v1beta/models/gemini-flash-lite",
    ]


async def test_a_wrong_base_url_is_reported(mock: tuple[MockProvider, str]) -> None:
    _, base = mock
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("anthropic", base + "/v1"), KEY)
    assert (result.ok, result.status) == (False, 404)
    assert "/v1/v1/messages" in result.message


async def test_timeout_is_reported(mock: tuple[MockProvider, str]) -> None:
    _, base = mock
    with trio.fail_after(10):
        result = await probe_endpoint(
            _endpoint("anthropic", base), KEY, model="m+delay-ms=5000", timeout=0.3
        )
    assert (result.ok, result.status) == (False, None)
    assert result.message
    assert result.latency_ms < 3000


async def test_connection_refused_is_reported() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with trio.fail_after(10):
        result = await probe_endpoint(
            _endpoint("anthropic", f"http://127.0.0.1:{port}"), KEY, timeout=5
        )
    assert (result.ok, result.status) == (False, None)
    assert "connect" in result.message


class Quirks:
    """`/html/…` answers 200 with a web page; model `o-newer` refuses `max_tokens` like OpenAI."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(msgspec.json.decode(raw))
        status, payload = self.answer(scope["path"], self.bodies[-1])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": payload})

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if path.startswith("/html/"):
            return 200, b"<html>welcome</html>"
        if "max_tokens" in body:
            message = "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
            return 400, msgspec.json.encode({"error": {"message": message, "type": "invalid"}})
        reply = {"choices": [{"message": {"role": "assistant", "content": "pong"}}]}
        return 200, msgspec.json.encode(reply)


@pytest.fixture
async def quirks() -> AsyncIterator[tuple[Quirks, str]]:
    app = Quirks()
    async with _serve(app) as base:
        yield app, base


async def test_newer_openai_models_get_max_completion_tokens(quirks: tuple[Quirks, str]) -> None:
    app, base = quirks
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("openai-chat", base), KEY, model="o-newer")
    assert (result.ok, result.message) == (True, "pong")
    assert [("max_tokens" in b, "max_completion_tokens" in b) for b in app.bodies] == [
        (True, False),
        (False, True),
    ]


async def test_a_page_that_is_not_the_api_fails(quirks: tuple[Quirks, str]) -> None:
    _, base = quirks
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("anthropic", base + "/html"), KEY)
    assert (result.ok, result.status) == (False, 200)
    assert "not a anthropic reply" in result.message


def test_probe_model_order() -> None:
    base = Endpoint("e", "http://h", "openai-chat")
    assert probe_model(base) == "gpt-4o-mini"
    assert probe_model(base, "given") == "given"
    with_map = Endpoint("e", "http://h", "anthropic", model_map={"a": "first", "*": "star"})
    assert probe_model(with_map) == "star"
    assert probe_model(Endpoint("e", "http://h", "anthropic", model_map={"a": "first"})) == "first"


def test_reply_text_tolerates_odd_bodies() -> None:
    assert reply_text("anthropic", []) is None
    assert reply_text("openai-chat", {"choices": []}) == ""
    assert reply_text("gemini", {"candidates": [{"finishReason": "MAX_TOKENS"}]}) == ""
    assert reply_text("openai-responses", {"id": "x"}) is None
    assert probe_body("gemini", "m")["generationConfig"] == {"maxOutputTokens": 16}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"type":"error","error":{"type":"x","message":"anthropic says"}}', "anthropic says"),
        (b'[{"error":{"code":400,"message":"gemini says","status":"INVALID"}}]', "gemini says"),
        (b'{"error":"plain"}', "plain"),
        (b'{"detail":"Not Found"}', "Not Found"),
        (b"Bad Gateway", "Bad Gateway"),
        (b"", "HTTP 502"),
    ],
)
def test_error_message_shapes(raw: bytes, expected: str) -> None:
    assert error_message(raw, 502) == expected
