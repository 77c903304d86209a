"""probe_endpoint against a small provider served on 127.0.0.1:0 that answers each format."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import trio

from cal.formats import ApiFormat
from cal.gateway.probe import DEFAULT_MODELS, probe_body, probe_endpoint, probe_model, reply_text
from cal.routing.model import Endpoint
from cal.serve import serve_asgi

GOOD_KEY = "sk-good-key-0123456789"


def _reply(path: str, model: str) -> dict[str, Any]:
    text = f"pong from {model}"
    if path.endswith("/v1/messages"):
        return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": text}]}
    if path.endswith("/chat/completions"):
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    if path.endswith("/responses"):
        content = [{"type": "output_text", "text": text}]
        return {
            "output": [
                {"type": "reasoning", "summary": []},
                {"type": "message", "content": content},
            ]
        }
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}


class Provider:
    """An ASGI app speaking just enough of the four APIs; it records what it received."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.stall = False
        self.released = trio.Event()

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
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        body = msgspec.json.decode(raw) if raw else {}
        self.requests.append((scope["path"], headers, body))
        if self.stall:
            await self.released.wait()
        status, payload = self.answer(scope["path"], headers, body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def answer(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, bytes]:
        if path == "/html/v1/messages":
            return 200, b"<html>welcome</html>"
        key = headers.get("x-api-key") or headers.get("x-goog-api-key") or ""
        key = key or headers.get("authorization", "").removeprefix("Bearer ")
        if key != GOOD_KEY:
            error = {"type": "authentication_error", "message": "invalid x-api-key"}
            return 401, msgspec.json.encode({"type": "error", "error": error})
        model = body.get("model") or path.split("/models/")[-1].split(":")[0]
        if model == "o-newer" and "max_tokens" in body:
            message = "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
            return 400, msgspec.json.encode({"error": {"message": message, "type": "invalid"}})
        return 200, msgspec.json.encode(_reply(path, model))


@pytest.fixture
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    app = Provider()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        host, port = await nursery.start(serve_asgi, app, "127.0.0.1", 0, stop)
        yield app, f"http://{host}:{port}"
        app.released.set()
        stop.set()


def _endpoint(fmt: ApiFormat, base: str, **fields: Any) -> Endpoint:
    url = base + ("/v1" if fmt.startswith("openai") else "")
    return Endpoint(name=f"t-{fmt}", url=url, format=fmt, **fields)


@pytest.mark.parametrize("fmt", ["anthropic", "openai-chat", "openai-responses", "gemini"])
async def test_each_format_answers(provider: tuple[Provider, str], fmt: ApiFormat) -> None:
    app, base = provider
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint(fmt, base), GOOD_KEY)
    model = DEFAULT_MODELS[fmt]
    assert (result.ok, result.status, result.message) == (True, 200, f"pong from {model}")
    assert result.latency_ms > 0
    path, headers, body = app.requests[-1]
    assert "16" in msgspec.json.encode(body).decode()
    assert "ping" in msgspec.json.encode(body).decode()
    if fmt == "anthropic":
        assert (path, headers["anthropic-version"]) == ("/v1/messages", "2023-06-01")
    if fmt == "gemini":
        assert path == f"/v1beta/models/{model}:generateContent"


async def test_provider_error_message_is_reported(provider: tuple[Provider, str]) -> None:
    _, base = provider
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("anthropic", base), "sk-wrong")
    assert (result.ok, result.status, result.message) == (False, 401, "invalid x-api-key")


async def test_no_key_sends_no_credential(provider: tuple[Provider, str]) -> None:
    app, base = provider
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("openai-chat", base), None)
    assert result.status == 401
    assert "authorization" not in app.requests[-1][1]


async def test_model_choice_reaches_the_provider(provider: tuple[Provider, str]) -> None:
    _, base = provider
    endpoint = _endpoint("gemini", base, model_map={"*": "gemini-2.5-pro"})
    with trio.fail_after(10):
        mapped = await probe_endpoint(endpoint, GOOD_KEY)
        given = await probe_endpoint(endpoint, GOOD_KEY, model="gemini-flash-lite")
    assert mapped.message == "pong from gemini-2.5-pro"
    assert given.message == "pong from gemini-flash-lite"


async def test_newer_openai_models_get_max_completion_tokens(
    provider: tuple[Provider, str],
) -> None:
    app, base = provider
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("openai-chat", base), GOOD_KEY, model="o-newer")
    assert result.ok, result
    assert [("max_tokens" in b, "max_completion_tokens" in b) for _, _, b in app.requests] == [
        (True, False),
        (False, True),
    ]


async def test_a_page_that_is_not_the_api_fails(provider: tuple[Provider, str]) -> None:
    _, base = provider
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("anthropic", base + "/html"), GOOD_KEY)
    assert (result.ok, result.status) == (False, 200)
    assert "not a anthropic reply" in result.message


async def test_timeout_is_reported(provider: tuple[Provider, str]) -> None:
    app, base = provider
    app.stall = True
    with trio.fail_after(10):
        result = await probe_endpoint(_endpoint("anthropic", base), GOOD_KEY, timeout=0.3)
    assert (result.ok, result.status) == (False, None)
    assert result.message
    assert result.latency_ms < 3000


async def test_connection_refused_is_reported() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with trio.fail_after(10):
        result = await probe_endpoint(
            _endpoint("anthropic", f"http://127.0.0.1:{port}"), GOOD_KEY, timeout=5
        )
    assert (result.ok, result.status) == (False, None)
    assert "connect" in result.message


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
