"""Frames of the Responses WebSocket mode, without a socket: requests, expansion, answers."""

from __future__ import annotations

import json

import msgspec
import pytest

from cal.gateway.websocket_frames import (
    FrameError,
    SessionState,
    as_sse,
    error_frame,
    http_error_frame,
    parse_frame,
    prewarm_events,
)
from cal.gateway.websocket_upstream import socket_url, upgrade_headers
from cal.routing.model import Endpoint

USER = {"type": "message", "role": "user", "content": "hi"}


def frame(**fields: object) -> bytes:
    return json.dumps({"type": "response.create", "model": "m", **fields}).encode()


def test_turn_body_drops_socket_fields_and_streams() -> None:
    turn = parse_frame(
        frame(input=[USER], generate=True, stream=False, store=False), SessionState()
    )
    body = json.loads(turn.body)
    assert body == {"model": "m", "input": [USER], "store": False, "stream": True}
    assert turn.generate and turn.model == "m" and not turn.expanded


def test_prewarm_frame_and_string_input() -> None:
    turn = parse_frame(frame(input="hello", generate=False), SessionState())
    assert not turn.generate
    assert [msgspec.json.decode(i) for i in turn.input_items] == [
        {"type": "message", "role": "user", "content": "hello"}
    ]


def test_previous_response_of_this_socket_is_expanded() -> None:
    state = SessionState()
    first = parse_frame(frame(input=[USER]), state)
    answer = msgspec.Raw(b'{"type":"message","role":"assistant","content":[]}')
    state.remember(first, "resp_1", [answer])
    follow = {"type": "function_call_output", "call_id": "c", "output": "ok"}
    turn = parse_frame(frame(input=[follow], previous_response_id="resp_1"), state)
    body = json.loads(turn.body)
    assert "previous_response_id" not in body and turn.expanded
    assert body["input"] == [USER, msgspec.json.decode(answer), follow]
    up = json.loads(turn.upstream_frame("upstream-m", as_sent=False))
    assert up["type"] == "response.create" and up["model"] == "upstream-m"
    assert up["input"] == body["input"] and "stream" not in up
    as_sent = json.loads(turn.upstream_frame(None, as_sent=True))
    assert as_sent["previous_response_id"] == "resp_1" and as_sent["input"] == [follow]


def test_unknown_previous_response_is_kept() -> None:
    turn = parse_frame(frame(input=[], previous_response_id="resp_x"), SessionState())
    assert json.loads(turn.body)["previous_response_id"] == "resp_x" and not turn.expanded


@pytest.mark.parametrize(
    "data",
    [b"{nope", b"[]", json.dumps({"type": "response.cancel"}).encode(), frame(input=5)],
)
def test_frames_that_are_not_requests(data: bytes) -> None:
    with pytest.raises(FrameError):
        parse_frame(data, SessionState())


def test_prewarm_answer_is_created_then_completed_without_output() -> None:
    created, completed = (json.loads(e) for e in prewarm_events("resp_9", "m", 1700000000))
    assert created["type"] == "response.created" and created["sequence_number"] == 0
    assert completed["type"] == "response.completed" and completed["sequence_number"] == 1
    assert completed["response"]["id"] == "resp_9" and completed["response"]["output"] == []
    assert completed["response"]["usage"]["output_tokens"] == 0


def test_http_errors_become_error_frames() -> None:
    headers = [(b"retry-after", b"2"), (b"content-type", b"application/json")]
    body = b'{"error":{"message":"slow down","type":"rate_limit_exceeded","code":null}}'
    sent = json.loads(http_error_frame(429, headers, body))
    assert sent["type"] == "error" and sent["status"] == 429
    assert sent["error"]["message"] == "slow down" and sent["error"]["headers"] == {
        "retry-after": "2"
    }
    plain = json.loads(http_error_frame(502, [], b"Bad Gateway"))
    assert plain["error"]["message"] == "Bad Gateway" and plain["status"] == 502
    assert json.loads(error_frame(400, "invalid_request_error", "x"))["error"]["type"] == (
        "invalid_request_error"
    )


def test_frames_are_recorded_as_sse_events() -> None:
    assert as_sse(b'{"type":"response.created"}') == (
        b'event: response.created\ndata: {"type":"response.created"}\n\n'
    )
    assert as_sse(b"{broken").startswith(b"event: message\ndata: {broken")


def test_upstream_socket_url_and_upgrade_headers() -> None:
    openai = Endpoint(name="o", url="https://api.openai.com/v1", format="openai-responses")
    assert socket_url(openai) == "wss://api.openai.com/v1/responses"
    local = Endpoint(name="l", url="http://127.0.0.1:9/v1/", format="openai-responses")
    assert socket_url(local) == "ws://127.0.0.1:9/v1/responses"
    client = [
        ("host", "127.0.0.1:3010"),
        ("connection", "Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-key", "abc"),
        ("sec-websocket-extensions", "permessage-deflate"),
        ("authorization", "Bearer client-key"),
        ("openai-beta", "responses_websockets=2026-02-06"),
        ("originator", "codex_exec"),
    ]
    forwarded = dict(upgrade_headers(client, local))
    assert forwarded == {
        "authorization": "Bearer client-key",
        "openai-beta": "responses_websockets=2026-02-06",
        "originator": "codex_exec",
    }
    keyed = Endpoint(name="k", url=local.url, format="openai-responses", api_key="sk-endpoint")
    assert dict(upgrade_headers(client, keyed))["authorization"] == "Bearer sk-endpoint"
