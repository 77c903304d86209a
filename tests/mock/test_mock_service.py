"""MockService in a nursery, the recorded requests, routing misses, and `cal mock-upstream`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest
import trio

from cal.mock import MockOptions, MockProvider
from cal.mock.app import RECEIVED_MAX
from cal.mock.service import MockService, base_urls


async def test_service_reports_its_url_and_serves() -> None:
    service = MockService(MockOptions(chunks=2), port=0)
    stop = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            line = await nursery.start(service.run, stop)
            assert service.port > 0
            assert line == f"mock provider http://127.0.0.1:{service.port}"
            assert service.url == f"http://127.0.0.1:{service.port}"
            async with httpx.AsyncClient() as client:
                health = await client.get(f"{service.url}/health")
            assert health.json()["status"] == "ok"
            assert service.provider.received[-1].path == "/health"
            stop.set()


def test_base_urls_follow_each_sdk() -> None:
    urls = base_urls("http://127.0.0.1:3020")
    assert urls["anthropic"] == urls["gemini"] == "http://127.0.0.1:3020"
    assert urls["openai-chat"] == urls["openai-responses"] == "http://127.0.0.1:3020/v1"


async def test_received_keeps_exact_bytes_and_header_order(served: Any) -> None:
    body = b'{"model":"m",  "max_tokens":5,"messages":[{"role":"user","content":"caf\xc3\xa9"}]}'
    headers = [
        ("X-Api-Key", "secret"),
        ("X-Custom", "caf\xe9"),
        ("anthropic-version", "2023-06-01"),
    ]
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{served.url}/v1/messages?beta=true",
                content=body,
                headers=[(k, v.encode("latin-1")) for k, v in headers],
            )
    assert response.status_code == 200
    received = served.provider.received[-1]
    assert (received.method, received.path, received.query_string) == (
        "POST",
        "/v1/messages",
        "beta=true",
    )
    assert received.body == body
    names = [name for name, _ in received.headers]
    assert names.index("x-api-key") < names.index("x-custom") < names.index("anthropic-version")
    assert received.header("X-Custom") == "caf\xe9"


def test_received_is_bounded() -> None:
    assert MockProvider().received.maxlen == RECEIVED_MAX == 256


async def test_unknown_routes_and_bad_bodies(served: Any) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            missing = await client.post("/v1/nothing", json={})
            ant_missing = await client.get("/v1/messages/x", headers={"anthropic-version": "1"})
            bad_json = await client.post("/v1/chat/completions", content=b"{not json")
            bad_shape = await client.post("/v1/messages", json={"model": "m"})
            bad_header = await client.post(
                "/v1/responses",
                json={"model": "m", "input": "x"},
                headers={"X-Mock-Chunks": "many"},
            )
    assert missing.status_code == 404 and "error" in missing.json()
    assert ant_missing.status_code == 404 and ant_missing.json()["type"] == "error"
    assert (
        bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    )
    assert (
        bad_shape.status_code == 400
        and bad_shape.json()["error"]["type"] == "invalid_request_error"
    )
    assert bad_header.status_code == 400


async def test_per_request_chunks_and_interval(served: Any) -> None:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            start = trio.current_time()
            response = await client.post(
                "/v1/chat/completions",
                json=body,
                headers={"X-Mock-Chunks": "2", "X-Mock-Interval-Ms": "20"},
            )
            elapsed = trio.current_time() - start
    events = response.text.strip().split("\n\n")
    assert len(events) == 1 + 2 + 1 + 1  # role, 2 content chunks, finish, [DONE]
    assert elapsed >= 0.08  # four pauses between five events


async def test_anthropic_model_list_needs_the_version_header(served: Any) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            ant = (
                await client.get("/v1/models", headers={"anthropic-version": "2023-06-01"})
            ).json()
            oai = (await client.get("/v1/models")).json()
    assert ant["data"][0]["type"] == "model" and "has_more" in ant
    assert oai["object"] == "list" and oai["data"][0]["object"] == "model"


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGTERM")
def test_cli_serves_until_sigterm() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODE_AGENT_LENS_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cal", "mock-upstream", "--port", "0", "--chunks", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("mock provider http://127.0.0.1:")
        url = first.split()[-1]
        lines = [process.stdout.readline() for _ in range(5)]
        reply = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "cli"}]},
            timeout=10,
        )
        assert reply.json()["choices"][0]["message"]["content"].endswith("You said: cli")
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
        lines.append(out)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"  openai-chat       base URL {url}/v1\n" in lines
    assert "SIGTERM: stopping" in lines[-1]
    assert process.returncode == 0


async def test_single_model_objects(served: Any) -> None:
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            ant = await client.get(
                "/v1/models/claude-x", headers={"anthropic-version": "2023-06-01"}
            )
            oai = await client.get("/v1/models/gpt-x")
            gem = await client.get("/v1beta/models/gemini-x")
    assert ant.json()["id"] == "claude-x" and ant.json()["type"] == "model"
    assert oai.json() == {
        "id": "gpt-x",
        "object": "model",
        "created": 1735689600,
        "owned_by": "cal-mock",
    }
    assert gem.json()["name"] == "models/gemini-x"
