"""Same-format pass-through through the real gateway: official SDKs, real captures, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import msgspec
import openai
import pytest
import trio

from cal.routing.model import Endpoint

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "captures"
PROMPT = "Say hello to the gateway test"


def _anthropic(base: str, key: str = "sk-ant-client-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=20)


def _openai(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key="sk-client-key", max_retries=0, timeout=20)


async def test_anthropic_sdk_non_stream_and_stream(harness: Any) -> None:
    client = _anthropic(harness.url)

    def call() -> tuple[Any, Any]:
        message = client.messages.create(
            model="claude-test", max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
        )
        with client.messages.stream(
            model="claude-test", max_tokens=64, messages=[{"role": "user", "content": PROMPT}]
        ) as stream:
            final = stream.get_final_message()
        return message, final

    with trio.fail_after(30):
        message, final = await trio.to_thread.run_sync(call)
    assert message.content[0].text == final.content[0].text
    assert PROMPT[:20] in message.content[0].text
    assert final.usage.output_tokens > 0
    exchanges = await harness.sink.wait_for(2)
    streamed = exchanges[1]
    assert streamed.stream is True
    assert streamed.route == "anthropic->anthropic"
    assert streamed.raw_events, "stream events were recorded"
    assert streamed.raw_events[0].t_ms <= streamed.raw_events[-1].t_ms
    assert b"message_stop" in streamed.raw_events[-1].data
    assert streamed.ttfb_ms is not None and streamed.error is None


async def test_openai_sdk_chat_and_responses(harness: Any) -> None:
    harness.use(harness.endpoint("openai-chat"), harness.endpoint("openai-responses", priority=200))
    client = _openai(harness.url)
    messages: Any = [{"role": "user", "content": PROMPT}]

    def chat() -> tuple[str, str]:
        done = client.chat.completions.create(model="gpt-test", messages=messages)
        with client.chat.completions.stream(model="gpt-test", messages=messages) as stream:
            final = stream.get_final_completion()
        return done.choices[0].message.content or "", final.choices[0].message.content or ""

    with trio.fail_after(30):
        plain, streamed = await trio.to_thread.run_sync(chat)
    assert plain == streamed
    assert PROMPT[:20] in plain

    harness.use(harness.endpoint("openai-responses"))

    def responses() -> tuple[str, str, int]:
        done = client.responses.create(model="gpt-test", input=PROMPT)
        with client.responses.stream(model="gpt-test", input=PROMPT) as stream:
            final = stream.get_final_response()
        assert final.usage is not None
        return done.output_text, final.output_text, final.usage.output_tokens

    with trio.fail_after(30):
        plain, streamed, output_tokens = await trio.to_thread.run_sync(responses)
    assert plain == streamed
    assert PROMPT[:20] in plain
    assert output_tokens > 0


def _capture(name: str) -> tuple[str, bytes, dict[str, str]]:
    record = msgspec.json.decode((CAPTURES / name).read_bytes())
    request = record.get("request", record)
    body = request["body"]
    raw = body.encode() if isinstance(body, str) else msgspec.json.encode(body)
    return request.get("path", ""), raw, request.get("headers", {})


@pytest.mark.parametrize(
    ("capture", "fmt", "path"),
    [
        ("claude-code-2.1.330_messages.json", "anthropic", "/v1/messages?beta=true"),
        ("codex-0.169.0_responses_http.json", "openai-responses", "/v1/responses"),
    ],
)
async def test_real_agent_bodies_reach_the_upstream_byte_identical(
    harness: Any, capture: str, fmt: str, path: str
) -> None:
    _, body, _ = _capture(capture)
    harness.use(harness.endpoint(fmt))
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + path,
            content=body,
            headers={"content-type": "application/json", "x-api-key": "sk-ant-client"},
        )
    assert response.status_code == 200, response.text
    received = harness.mock.provider.received[-1]
    assert received.body == body
    assert response.headers["x-cal-request-id"].startswith("req_")
    trace_id, request_id = response.headers["x-cal-obs-ref"].split("/")
    assert request_id == response.headers["x-cal-request-id"]
    assert len(trace_id) == 32


async def test_endpoint_key_replaces_client_credential_and_model_map_edits_only_model(
    harness: Any,
) -> None:
    harness.use(
        harness.endpoint("anthropic", api_key="sk-ant-endpoint-key-0001", model_map={"a": "b"})
    )
    body = b'{"model":"a","max_tokens":8,  "messages":[{"role":"user","content":"hi"}],"x":{"y":1}}'
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages", content=body, headers={"x-api-key": "sk-ant-client"}
        )
    assert response.status_code == 200
    received = harness.mock.provider.received[-1]
    headers = dict(received.headers)
    assert headers["x-api-key"] == "sk-ant-endpoint-key-0001"
    assert received.body == body.replace(b'"model":"a"', b'"model":"b"')


async def test_client_credential_is_forwarded_without_endpoint_key(harness: Any) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        await client.post(
            harness.url + "/v1/messages",
            content=b'{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}',
            headers={"authorization": "Bearer oauth-subscription-token"},
        )
    headers = dict(harness.mock.provider.received[-1].headers)
    assert headers["authorization"] == "Bearer oauth-subscription-token"


async def test_bad_input_gets_errors_in_the_clients_shape(harness: Any) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        bad_json = await client.post(harness.url + "/v1/messages", content=b"{nope")
        assert bad_json.status_code == 400
        assert bad_json.json()["error"]["type"] == "invalid_request_error"
        assert bad_json.json()["type"] == "error"

        chat_bad = await client.post(harness.url + "/v1/chat/completions", content=b"[1,2]")
        assert chat_bad.status_code == 400
        assert "message" in chat_bad.json()["error"]

        too_big = await client.post(
            harness.url + "/v1/messages",
            content=b'{"x":"' + b"a" * (harness.runtime.settings.max_request_bytes + 1) + b'"}',
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"]["type"] == "request_too_large"

        unknown = await client.post(harness.url + "/v1/unknown", content=b"{}")
        assert unknown.status_code == 404
        assert (await client.get(harness.url + "/debug/obs")).status_code == 404
        assert (await client.get(harness.url + "/debug/obs/api/status")).status_code == 404

        harness.use()
        none = await client.post(harness.url + "/v1/messages", content=b'{"model":"m"}')
        assert none.status_code == 503
        assert "cal endpoint add" in none.json()["error"]["message"]


async def test_upstream_refused_is_502(harness: Any) -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    harness.use(Endpoint("dead", f"http://127.0.0.1:{port}", "anthropic"))
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(harness.url + "/v1/messages", content=b'{"model":"m"}')
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "api_error"
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is not None and exchange.error.kind == "connect"


async def test_health_and_models(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic", model_map={"claude-alias": "claude-real"}))
    async with httpx.AsyncClient(timeout=20) as client:
        health = (await client.get(harness.url + "/health")).json()
        models = await client.get(harness.url + "/v1/models")
    assert health["status"] == "ok"
    assert health["active_endpoint"] == "mock-anthropic"
    ids = [m["id"] for m in models.json()["data"]]
    assert "claude-alias" in ids


async def test_gemini_pass_through_stream_and_key_in_query(harness: Any) -> None:
    harness.use(harness.endpoint("gemini", api_key="AIzaEndpointKey000000000"))
    body = b'{"contents":[{"role":"user","parts":[{"text":"hello gemini"}]}]}'
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1beta/models/gemini-test:streamGenerateContent?alt=sse&key=AIzaClient",
            content=body,
        )
    assert response.status_code == 200
    assert b"finishReason" in response.content
    received = harness.mock.provider.received[-1]
    assert received.body == body
    assert "key=" not in received.query_string
    assert dict(received.headers)["x-goog-api-key"] == "AIzaEndpointKey000000000"


async def test_gzip_upstream_stream_reaches_the_client_decoded(harness: Any) -> None:
    body = b'{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages", content=body, headers={"x-mock-fault": "gzip"}
        )
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content.startswith(b"event: message_start")
    assert b"message_stop" in response.content
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is None
    assert exchange.usage.source == "upstream"
    assert exchange.usage.output_tokens > 0


async def test_upstream_429_is_passed_through_with_retry_after(harness: Any) -> None:
    body = b'{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages", content=body, headers={"x-mock-fault": "status=429"}
        )
    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert response.json()["error"]["type"] == "rate_limit_error"
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is not None
    assert exchange.error.kind == "upstream_status"


async def test_traceparent_continues_the_clients_trace(harness: Any) -> None:
    from cal.telemetry.traceparent import child_span_id

    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    body = b'{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages",
            content=body,
            headers={"traceparent": f"00-{trace_id}-{parent}-01"},
        )
    assert response.headers["x-cal-obs-ref"].startswith(trace_id + "/")
    exchange = (await harness.sink.wait_for(1))[-1]
    assert (exchange.trace_id, exchange.parent_span_id) == (trace_id, parent)
    sent = harness.mock.provider.received[-1].header("traceparent")
    assert sent == f"00-{trace_id}-{child_span_id(exchange.span_id, 'attempt', 0)}-01"


async def test_reasoning_sealed_for_another_api_is_not_sent_on_pass_through(harness: Any) -> None:
    """A conversation that went through a Responses endpoint continues on an Anthropic one."""
    harness.use(harness.endpoint("openai-responses"))
    first = {
        "model": "m",
        "max_tokens": 2048,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "think first"}],
    }
    async with httpx.AsyncClient(timeout=20) as client:
        answer = (await client.post(harness.url + "/v1/messages", json=first)).json()
        sealed = [b for b in answer["content"] if b["type"] == "thinking"]
        assert sealed, answer
        assert sealed[0]["signature"].startswith("gw1")
        harness.use(harness.endpoint("anthropic"))
        follow_up = {
            **first,
            "messages": [
                *first["messages"],
                {"role": "assistant", "content": answer["content"]},
                {"role": "user", "content": "and now?"},
            ],
        }
        response = await client.post(harness.url + "/v1/messages", json=follow_up)
    assert response.status_code == 200
    sent = harness.mock.provider.received[-1].body
    assert b"gw1" not in sent
    assert b"and now?" in sent
    exchange = (await harness.sink.wait_for(2))[-1]
    assert any("reasoning block" in note for note in exchange.notes)
