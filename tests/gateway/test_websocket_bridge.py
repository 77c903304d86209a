"""Codex's Responses WebSocket mode through the real gateway, in front of the real mock provider.

The client is trio-websocket speaking to hypercorn; each test sends `response.create` frames as
Codex 0.169 does (a prewarm with `generate: false`, then real turns) and checks the frames it gets
back, what the mock received and what the gateway recorded.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionRejected, WebSocketConnection, open_websocket_url

from cal.formats import API_FORMATS
from cal.gateway.websocket_frames import PREWARM_NOTE
from cal.gateway.websocket_upstream import RELAYED_NOTE
from cal.routing.model import Endpoint
from cal.serve import serve_asgi

BETA = (b"openai-beta", b"responses_websockets=2026-02-06")
MOCK_TEXT = "Hello from the cal mock provider. You said: "
TERMINAL = {"response.completed", "response.failed", "response.incomplete", "error"}


def ws_url(harness: Any, path: str = "/v1/responses") -> str:
    return harness.url.replace("http://", "ws://", 1) + path


def frame(text: str | None, **fields: Any) -> str:
    """A `response.create` frame shaped like Codex's (input items, no top-level instructions)."""
    body: dict[str, Any] = {
        "type": "response.create",
        "model": "mock-model",
        "stream": True,
        "input": [],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "store": False,
        "prompt_cache_key": "sess-1",
        "client_metadata": {"session_id": "sess-1"},
    }
    if text is not None:
        body["input"] = [
            {"type": "message", "role": "developer", "content": "be brief"},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        ]
    body.update(fields)
    return json.dumps(body)


async def turn(ws: WebSocketConnection, message: str) -> list[dict[str, Any]]:
    """Send one frame; the events received up to its terminal event."""
    await ws.send_message(message)
    events: list[dict[str, Any]] = []
    while True:
        event = json.loads(await ws.get_message())
        events.append(event)
        if event["type"] in TERMINAL:
            return events


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


class NoWebSocket:
    """The mock provider behind an ASGI wrapper that refuses every WebSocket upgrade with 404."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.upgrades = inner, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        self.upgrades += 1
        await receive()
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"no websockets here"})


@pytest.fixture
async def http_only(nursery: trio.Nursery, harness: Any) -> tuple[NoWebSocket, str]:
    """An openai-responses upstream that speaks HTTP only; (its app, its base URL)."""
    app = NoWebSocket(harness.mock.provider)
    stop = trio.Event()
    host, port = await nursery.start(serve_asgi, app, "127.0.0.1", 0, stop)
    yield app, f"http://{host}:{port}/v1"
    stop.set()


async def test_prewarm_and_turn_relayed_to_upstream_websocket(harness: Any) -> None:
    harness.use(harness.endpoint("openai-responses", model_map={"*": "upstream-model"}))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness), extra_headers=[BETA]) as ws:
            warm = await turn(ws, frame(None, generate=False))
            events = await turn(ws, frame("say hi over the socket"))
        records = await harness.sink.wait_for(2)
    assert [e["type"] for e in warm] == ["response.created", "response.completed"]
    assert events[-1]["type"] == "response.completed"
    assert text_of(events) == MOCK_TEXT + "say hi over the socket"
    received = harness.mock.provider.received
    assert [r.method for r in received] == ["GET", "WS", "WS"]  # one upgrade, both frames
    upgrade_headers = dict(received[0].headers)
    assert upgrade_headers.get("openai-beta") == BETA[1].decode()
    assert json.loads(received[2].body)["model"] == "upstream-model"
    prewarm, real = records
    assert all(r.method == "WS" and r.endpoint == "mock-openai-responses" for r in records)
    assert prewarm.attempts[0].url.startswith("ws://") and RELAYED_NOTE in real.notes[0]
    assert real.status == 200 and real.error is None and real.usage.output_tokens > 0
    assert real.route == "openai-responses->openai-responses" and real.ttfb_ms is not None
    assert len(real.client_events) == len(events)


async def test_upstream_socket_keeps_its_own_response_chain(harness: Any) -> None:
    harness.use(harness.endpoint("openai-responses"))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            first = await turn(ws, frame("first question"))
            previous = first[-1]["response"]["id"]
            follow_up = [{"type": "message", "role": "user", "content": "second question"}]
            await turn(ws, frame(None, input=follow_up, previous_response_id=previous))
    sent = json.loads(harness.mock.provider.received[-1].body)
    assert sent["previous_response_id"] == previous and sent["input"] == follow_up


async def test_prewarm_then_turn_over_http_when_upstream_refuses_upgrades(
    harness: Any, http_only: tuple[NoWebSocket, str]
) -> None:
    app, base = http_only
    harness.use(Endpoint(name="http-only", url=base, format="openai-responses"))
    with trio.fail_after(15):
        for n in (1, 2):  # the refusal is remembered: the second session does not try again
            async with open_websocket_url(ws_url(harness), extra_headers=[BETA]) as ws:
                warm = await turn(ws, frame(None, generate=False))
                events = await turn(ws, frame(f"say hi over http {n}"))
            assert [e["type"] for e in warm] == ["response.created", "response.completed"]
            assert warm[1]["response"]["output"] == [] and warm[0]["response"]["id"].startswith(
                "resp_"
            )
            assert (
                events[0]["type"] == "response.created"
                and events[-1]["type"] == "response.completed"
            )
            assert text_of(events) == MOCK_TEXT + f"say hi over http {n}"
        records = await harness.sink.wait_for(4)
    assert app.upgrades == 1
    prewarm, real = records[:2]
    assert prewarm.method == "WS" and prewarm.notes == [PREWARM_NOTE] and not prewarm.attempts
    assert real.method == "POST" and real.path == "/v1/responses" and real.status == 200
    assert real.route == "openai-responses->openai-responses" and real.usage.output_tokens > 0
    body = json.loads(real.client_body)
    assert body["stream"] is True and "type" not in body and "generate" not in body
    assert ("openai-beta", BETA[1].decode()) not in real.client_headers
    assert ("x-cal-transport", "websocket") in real.client_headers
    upstream_names = {name for name, _ in real.attempts[0].request_headers}
    assert "x-cal-transport" not in upstream_names and "sec-websocket-key" not in upstream_names
    assert [r.method for r in harness.mock.provider.received] == ["POST", "POST"]  # no prewarm call


@pytest.mark.parametrize("upstream", API_FORMATS)
async def test_turn_through_each_upstream_format(harness: Any, upstream: str) -> None:
    harness.use(harness.endpoint(upstream))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness, "/codex/v1/responses")) as ws:
            events = await turn(ws, frame(f"via {upstream}"))
        (record,) = await harness.sink.wait_for(1)
    assert events[-1]["type"] == "response.completed", events[-1]
    assert text_of(events) == MOCK_TEXT + f"via {upstream}"
    assert events[-1]["response"]["usage"]["output_tokens"] > 0
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert record.route == f"openai-responses->{upstream}" and record.source_tag == "codex"
    assert record.method == ("WS" if upstream == "openai-responses" else "POST")
    assert record.status == 200 and record.error is None


async def test_two_turns_chain_previous_response_id(harness: Any) -> None:
    harness.use(harness.endpoint("anthropic"))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            first = await turn(ws, frame("first question"))
            follow_up = [
                {"type": "message", "role": "user", "content": "second question"},
            ]
            previous = first[-1]["response"]["id"]
            second = await turn(ws, frame(None, input=follow_up, previous_response_id=previous))
        records = await harness.sink.wait_for(2)
    assert text_of(second) == MOCK_TEXT + "second question"
    body = json.loads(records[1].client_body)
    assert "previous_response_id" not in body
    roles = [item.get("role") for item in body["input"]]
    assert roles == ["developer", "user", "assistant", "user"]  # turn 1 in, turn 1 out, turn 2
    assert MOCK_TEXT + "first question" in json.dumps(body["input"][2])


async def test_unknown_previous_response_id_is_left_to_the_upstream(harness: Any) -> None:
    harness.use(harness.endpoint("openai-responses"))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            await turn(ws, frame("hello", previous_response_id="resp_elsewhere"))
        (record,) = await harness.sink.wait_for(1)
    assert json.loads(record.client_body)["previous_response_id"] == "resp_elsewhere"


@pytest.mark.parametrize("upstream", ["openai-responses", "openai-chat"])
async def test_upstream_cut_mid_turn_then_next_turn_works(harness: Any, upstream: str) -> None:
    harness.use(harness.endpoint(upstream))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            broken = await turn(ws, frame("cut me", model="mock-model+cut-after=4"))
            healthy = await turn(ws, frame("and again"))
        records = await harness.sink.wait_for(2)
    assert broken[-1]["type"] in {"response.failed", "error"}, broken[-1]
    if upstream == "openai-responses":
        assert records[0].error is not None and records[0].error.kind == "stream_cut"
    assert healthy[-1]["type"] == "response.completed"
    assert text_of(healthy) == MOCK_TEXT + "and again"


async def test_upstream_error_status_becomes_error_frame(harness: Any) -> None:
    harness.use(harness.endpoint("openai-chat"))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            (error,) = await turn(ws, frame("refuse me", model="mock-model+status=400"))
            healthy = await turn(ws, frame("then answer"))
        records = await harness.sink.wait_for(2)
    assert error["type"] == "error" and error["status"] == 400
    assert error["error"]["message"] and "x-cal-request-id" in error["error"]["headers"]
    assert error["error"]["headers"]["x-cal-request-id"] == records[0].request_id
    assert healthy[-1]["type"] == "response.completed"


async def test_invalid_frames_get_error_frames_and_the_socket_stays(harness: Any) -> None:
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            (bad_json,) = await turn(ws, "{not json")
            (bad_type,) = await turn(ws, json.dumps({"type": "response.cancel"}))
            events = await turn(ws, frame("still here"))
    assert bad_json["status"] == 400 and bad_type["status"] == 400
    assert "response.cancel" in bad_type["error"]["message"]
    assert events[-1]["type"] == "response.completed"


@pytest.mark.parametrize("upstream", ["openai-responses", "gemini"])
async def test_client_disconnect_mid_turn_cancels_the_upstream(harness: Any, upstream: str) -> None:
    harness.use(harness.endpoint(upstream))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            await ws.send_message(frame("never answered in time", model="mock-model+delay-ms=4000"))
            await trio.sleep(0.5)
        started = trio.current_time()
        (record,) = await harness.sink.wait_for(1)
    assert trio.current_time() - started < 3  # the upstream would answer after 4 s
    assert record.error is not None and record.error.kind == "client_disconnected"
    assert record.method == ("WS" if upstream == "openai-responses" else "POST")


async def test_upgrade_on_other_paths_is_refused(harness: Any) -> None:
    with trio.fail_after(10):
        with pytest.raises(ConnectionRejected) as rejected:
            async with open_websocket_url(ws_url(harness, "/v1/messages")):
                pass
    assert rejected.value.status_code == 404
    assert b"no WebSocket route" in (rejected.value.body or b"")


async def test_permessage_deflate_offer_is_accepted(harness: Any) -> None:
    """Codex offers permessage-deflate; hypercorn (wsproto) negotiates it, frames still flow."""
    headers = {
        "connection": "Upgrade",
        "upgrade": "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
    }
    url = harness.url + "/v1/responses"
    with trio.fail_after(10):
        async with httpx.AsyncClient() as client, client.stream("GET", url, headers=headers) as r:
            assert r.status_code == 101
            assert "permessage-deflate" in r.headers["sec-websocket-extensions"]


async def test_upstream_websocket_error_frame_is_relayed_and_recorded(harness: Any) -> None:
    harness.use(harness.endpoint("openai-responses"))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            (error,) = await turn(ws, frame("limit me", model="mock-model+status=429"))
            healthy = await turn(ws, frame("then answer"))
        records = await harness.sink.wait_for(2)
    assert error["type"] == "error" and error["status"] == 429
    assert error["error"]["headers"]["retry-after"] == "1"
    assert records[0].status == 429 and records[0].error is not None
    assert records[0].error.kind == "upstream_status"
    assert healthy[-1]["type"] == "response.completed" and records[1].status == 200
    upgrades = [r for r in harness.mock.provider.received if r.method == "GET"]
    assert len(upgrades) == 1  # the upstream socket outlived the error


class OneTurnSockets:
    """An upstream whose WebSocket answers one frame (created, completed) and then closes."""

    def __init__(self) -> None:
        self.upgrades = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        self.upgrades += 1
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        model = json.loads(message["text"])["model"]
        for n, kind in enumerate(["response.created", "response.completed"]):
            response = {"id": f"resp_{self.upgrades}", "model": model, "output": []}
            event = {"type": kind, "sequence_number": n, "response": response}
            await send({"type": "websocket.send", "text": json.dumps(event)})
        await send({"type": "websocket.close", "code": 1000})


async def test_upstream_socket_closed_between_turns_is_reopened(
    harness: Any, nursery: trio.Nursery
) -> None:
    app, stop = OneTurnSockets(), trio.Event()
    host, port = await nursery.start(serve_asgi, app, "127.0.0.1", 0, stop)
    harness.use(Endpoint(name="closing", url=f"http://{host}:{port}/v1", format="openai-responses"))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            first = await turn(ws, frame("one"))
            await trio.sleep(0.3)  # the upstream's close frame arrives
            second = await turn(ws, frame("two"))
        records = await harness.sink.wait_for(2)
    stop.set()
    assert first[-1]["response"]["id"] == "resp_1" and second[-1]["response"]["id"] == "resp_2"
    assert app.upgrades == 2 and all(r.status == 200 and r.error is None for r in records)


async def test_pinned_model_prefix_picks_the_websocket_endpoint(harness: Any) -> None:
    responses = harness.endpoint("openai-responses", name="socket-ep")
    harness.use(harness.endpoint("anthropic"), responses, active="mock-anthropic")
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            events = await turn(ws, frame("pinned", model="@socket-ep/mock-model"))
        (record,) = await harness.sink.wait_for(1)
    assert text_of(events) == MOCK_TEXT + "pinned"
    assert record.method == "WS" and record.endpoint == "socket-ep"
    assert json.loads(harness.mock.provider.received[-1].body)["model"] == "mock-model"


async def test_endpoint_first_byte_timeout_ends_a_relayed_turn(harness: Any) -> None:
    harness.use(harness.endpoint("openai-responses", first_byte_timeout_s=0.3))
    with trio.fail_after(15):
        async with open_websocket_url(ws_url(harness)) as ws:
            (error,) = await turn(ws, frame("too slow", model="mock-model+delay-ms=3000"))
        (record,) = await harness.sink.wait_for(1)
    assert error["type"] == "error" and error["status"] == 504
    assert record.error is not None and record.error.kind == "timeout" and record.status == 504
