"""Every fault the mock injects, per provider: status + body + headers, delay, cut, malformed,
gzip, in-band errors, fail-first, and the model-name convention."""

from __future__ import annotations

import gzip
import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio

from cal.sse import SSEDecoder

USER = "say hello"
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "anthropic": (
        "/v1/messages",
        {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": USER}]},
    ),
    "openai-chat": (
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": USER}]},
    ),
    "openai-responses": ("/v1/responses", {"model": "m", "input": USER}),
    "gemini": (
        "/v1beta/models/m:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": USER}]}]},
    ),
}
STREAM_PATHS = {"gemini": "/v1beta/models/m:streamGenerateContent?alt=sse"}


async def _post(
    served: Any,
    fmt: str,
    *,
    fault: str = "",
    stream: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    path, body = REQUESTS[fmt]
    if stream:
        path = STREAM_PATHS.get(fmt, path)
        body = body if fmt == "gemini" else body | {"stream": True}
    sent = dict(headers or {})
    if fault:
        sent["X-Mock-Fault"] = fault
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            return await client.post(path, json=body, headers=sent)


def _error_shape(fmt: str, payload: dict[str, Any]) -> str:
    """The provider's error type/status string, asserting the body has the provider's shape."""
    if fmt == "anthropic":
        assert payload["type"] == "error" and payload["request_id"].startswith("req_")
        return str(payload["error"]["type"])
    if fmt == "gemini":
        assert isinstance(payload["error"]["code"], int)
        return str(payload["error"]["status"])
    assert set(payload["error"]) >= {"message", "type", "param", "code"}
    return str(payload["error"]["type"])


@pytest.mark.parametrize(
    ("fmt", "status", "kind"),
    [
        ("anthropic", 429, "rate_limit_error"),
        ("anthropic", 500, "api_error"),
        ("anthropic", 503, "overloaded_error"),
        ("anthropic", 529, "overloaded_error"),
        ("openai-chat", 429, "rate_limit_exceeded"),
        ("openai-chat", 500, "server_error"),
        ("openai-responses", 503, "server_error"),
        ("openai-responses", 529, "server_error"),
        ("gemini", 429, "RESOURCE_EXHAUSTED"),
        ("gemini", 500, "INTERNAL"),
        ("gemini", 503, "UNAVAILABLE"),
    ],
)
async def test_status_faults_use_the_provider_error_shape(
    served: Any, fmt: str, status: int, kind: str
) -> None:
    response = await _post(served, fmt, fault=f"status={status}", stream=True)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert _error_shape(fmt, response.json()) == kind
    assert ("retry-after" in response.headers) == (status == 429)


async def test_429_carries_rate_limit_headers(served: Any) -> None:
    ant = await _post(served, "anthropic", fault="status=429")
    assert ant.headers["retry-after"] == "1"
    assert ant.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert ant.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert ant.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert int(ant.headers["anthropic-ratelimit-unified-reset"]) > 0
    oai = await _post(served, "openai-chat", fault="status=429")
    assert oai.headers["x-ratelimit-remaining-requests"] == "0"
    assert oai.headers["x-ratelimit-reset-requests"] == "1s"
    gem = await _post(served, "gemini", fault="status=429")
    assert gem.json()["error"]["details"][0]["retryDelay"] == "1s"


async def test_429_without_retry_after(served: Any) -> None:
    response = await _post(served, "anthropic", fault="status=429-no-retry-after")
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    assert response.headers["anthropic-ratelimit-unified-status"] == "rejected"


async def test_sdk_sees_rate_limit_error(served: Any) -> None:
    def call() -> None:
        client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=0)
        client.messages.create(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Mock-Fault": "status=429"},
        )

    with trio.fail_after(20), pytest.raises(anthropic.RateLimitError) as caught:
        await trio.to_thread.run_sync(call)
    assert caught.value.response.headers["retry-after"] == "1"


async def test_delay_before_first_byte(served: Any) -> None:
    start = trio.current_time()
    response = await _post(served, "openai-chat", fault="delay-ms=300")
    assert response.status_code == 200
    assert trio.current_time() - start >= 0.3


async def test_cut_after_ends_the_stream_early(served: Any) -> None:
    response = await _post(served, "anthropic", fault="cut-after=3", stream=True)
    events = SSEDecoder().feed(response.content)
    assert [e.event for e in events] == ["message_start", "content_block_start", "ping"]
    responses = await _post(served, "openai-responses", fault="cut-after=4", stream=True)
    names = [e.event for e in SSEDecoder().feed(responses.content)]
    assert len(names) == 4 and "response.completed" not in names


async def test_malformed_line_mid_stream(served: Any) -> None:
    response = await _post(served, "openai-chat", fault="malformed", stream=True)
    datas = [e.data for e in SSEDecoder().feed(response.content)]
    assert datas[-1] == b"[DONE]"
    broken = []
    for data in datas[:-1]:
        try:
            json.loads(data)
        except ValueError:
            broken.append(data)
    assert len(broken) == 1


async def test_gzip_body_and_stream(served: Any) -> None:
    plain = await _post(served, "openai-chat", fault="gzip")
    assert plain.headers["content-encoding"] == "gzip"
    assert plain.json()["choices"][0]["message"]["content"].endswith(USER)
    with trio.fail_after(10):
        async with (
            httpx.AsyncClient(base_url=served.url) as client,
            client.stream(
                "POST",
                "/v1/messages",
                json=REQUESTS["anthropic"][1] | {"stream": True},
                headers={"X-Mock-Fault": "gzip"},
            ) as response,
        ):
            raw = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.headers["content-encoding"] == "gzip"
    events = SSEDecoder().feed(gzip.decompress(raw))
    assert events[-1].event == "message_stop"


async def test_sdk_stream_through_gzip(served: Any) -> None:
    def call() -> anthropic.types.Message:
        client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=0)
        with client.messages.stream(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "zip"}],
            extra_headers={"X-Mock-Fault": "gzip"},
        ) as stream:
            return stream.get_final_message()

    with trio.fail_after(20):
        message = await trio.to_thread.run_sync(call)
    assert message.content[0].text.endswith("You said: zip")


@pytest.mark.parametrize(
    ("fmt", "check"),
    [
        ("anthropic", lambda e: e.event == "error" and b"overloaded_error" in e.data),
        ("openai-chat", lambda e: json.loads(e.data)["error"]["type"] == "server_error"),
        ("openai-responses", lambda e: json.loads(e.data)["response"]["status"] == "failed"),
        ("gemini", lambda e: json.loads(e.data)["error"]["status"] == "UNAVAILABLE"),
    ],
)
async def test_error_event_ends_the_stream_in_band(served: Any, fmt: str, check: Any) -> None:
    response = await _post(served, fmt, fault="error-event", stream=True)
    assert response.status_code == 200
    events = SSEDecoder().feed(response.content)
    assert len(events) >= 2
    assert check(events[-1])
    if fmt == "openai-responses":
        assert json.loads(events[-1].data)["sequence_number"] == len(events) - 1


async def test_sdks_raise_on_in_band_errors(served: Any) -> None:
    def anthropic_call() -> None:
        client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=0)
        with client.messages.stream(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"X-Mock-Fault": "error-event"},
        ) as stream:
            stream.get_final_message()

    def chat_call() -> None:
        client = openai.OpenAI(base_url=served.openai_url, api_key="k", max_retries=0)
        for _ in client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            extra_headers={"X-Mock-Fault": "error-event"},
        ):
            pass

    with trio.fail_after(20):
        with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
            await trio.to_thread.run_sync(anthropic_call)
        with pytest.raises(openai.APIError, match="error while processing"):
            await trio.to_thread.run_sync(chat_call)


async def test_fail_first_counts_per_mock_key(served: Any) -> None:
    fault = "fail-first=2,status=529"
    statuses = [
        (await _post(served, "anthropic", fault=fault, headers={"X-Mock-Key": "a"})).status_code
        for _ in range(3)
    ]
    assert statuses == [529, 529, 200]
    other = await _post(served, "anthropic", fault=fault, headers={"X-Mock-Key": "b"})
    assert other.status_code == 529


async def test_sdk_retries_through_fail_first(served: Any) -> None:
    def call() -> anthropic.types.Message:
        client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=2)
        return client.messages.create(
            model="m",
            max_tokens=100,
            messages=[{"role": "user", "content": "retry"}],
            extra_headers={"X-Mock-Fault": "fail-first=1,status=529", "X-Mock-Key": "sdk"},
        )

    with trio.fail_after(20):
        message = await trio.to_thread.run_sync(call)
    assert message.content[0].text.endswith("You said: retry")
    keyed = [r for r in served.provider.received if r.header("x-mock-key") == "sdk"]
    assert len(keyed) == 2
    assert keyed[1].header("x-stainless-retry-count") == "1"


async def test_model_name_carries_the_fault(served: Any) -> None:
    path, body = REQUESTS["openai-chat"]
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            failed = await client.post(path, json=body | {"model": "mock-model+fault=429"})
            gemini = await client.post(
                "/v1beta/models/mock-model+status=503:generateContent", json=REQUESTS["gemini"][1]
            )
    assert failed.status_code == 429
    assert failed.json()["error"]["code"] == "rate_limit_exceeded"
    assert gemini.status_code == 503


async def test_unknown_fault_term_is_a_400(served: Any) -> None:
    response = await _post(served, "anthropic", fault="explode")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "explode" in response.json()["error"]["message"]


async def test_cut_after_zero_sends_headers_only(served: Any) -> None:
    response = await _post(served, "openai-responses", fault="cut-after=0", stream=True)
    assert response.status_code == 200
    assert response.content == b""


async def test_gzip_stream_with_interval_decodes_per_event(served: Any) -> None:
    response = await _post(
        served, "gemini", fault="gzip", stream=True, headers={"X-Mock-Interval-Ms": "1"}
    )
    assert response.headers["content-encoding"] == "gzip"
    chunks = [json.loads(e.data) for e in SSEDecoder().feed(response.content)]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
