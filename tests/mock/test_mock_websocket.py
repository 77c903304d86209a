"""The Responses WebSocket mode Codex tries first: frames in, event frames out, faults included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

CAPTURE = Path("/work/shared/reference/captures/codex-0.169.0_responses_websocket.json")


def _ws_url(served: Any) -> str:
    return served.url.replace("http://", "ws://") + "/v1/responses"


async def _turn(ws: Any) -> list[dict[str, Any]]:
    """Events of one turn, up to its terminal event or an error frame."""
    events = []
    while True:
        event = json.loads(await ws.get_message())
        events.append(event)
        if event["type"] in ("response.completed", "response.failed", "error"):
            return events


def _capture_frames() -> list[dict[str, Any]]:
    if not CAPTURE.exists():
        pytest.skip(f"capture {CAPTURE} not available")
    return list(json.loads(CAPTURE.read_text())["ws_messages"])


async def test_codex_capture_prewarm_then_turn(served: Any) -> None:
    prewarm, real = _capture_frames()
    with trio.fail_after(10):
        async with open_websocket_url(_ws_url(served)) as ws:
            await ws.send_message(json.dumps(prewarm))
            warm = await _turn(ws)
            await ws.send_message(json.dumps(real))
            turn = await _turn(ws)
    assert [e["type"] for e in warm] == ["response.created", "response.completed"]
    assert warm[-1]["response"]["output"] == []
    assert turn[0]["type"] == "response.created"
    assert [e["sequence_number"] for e in turn] == list(range(len(turn)))
    output = turn[-1]["response"]["output"]
    assert output[-1]["content"][0]["text"].startswith(
        "Hello from the cal mock provider. You said:"
    )
    frames = [r for r in served.provider.received if r.method == "WS"]
    assert [json.loads(f.body)["type"] for f in frames] == ["response.create", "response.create"]


async def test_status_fault_is_an_error_frame(served: Any) -> None:
    frame = {"type": "response.create", "model": "mock-model+fault=429", "input": "hi"}
    with trio.fail_after(10):
        async with open_websocket_url(_ws_url(served)) as ws:
            await ws.send_message(json.dumps(frame))
            (error,) = await _turn(ws)
            await ws.send_message(json.dumps(frame | {"model": "m"}))
            ok = await _turn(ws)
    assert error["status"] == 429
    assert error["error"]["code"] == "rate_limit_exceeded"
    assert error["error"]["headers"]["retry-after"] == "1"
    assert ok[-1]["type"] == "response.completed"


async def test_error_event_and_cut_faults(served: Any) -> None:
    frame = {"type": "response.create", "model": "m", "input": "hi"}
    with trio.fail_after(10):
        async with open_websocket_url(
            _ws_url(served), extra_headers=[(b"X-Mock-Fault", b"error-event")]
        ) as ws:
            await ws.send_message(json.dumps(frame))
            failed = await _turn(ws)
        assert failed[-1]["type"] == "response.failed"
        assert failed[-1]["response"]["error"]["code"] == "server_error"
        async with open_websocket_url(
            _ws_url(served), extra_headers=[(b"X-Mock-Fault", b"cut-after=3")]
        ) as ws:
            await ws.send_message(json.dumps(frame))
            received = [json.loads(await ws.get_message()) for _ in range(3)]
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
    assert [e["sequence_number"] for e in received] == [0, 1, 2]


async def test_bad_frames_and_other_paths(served: Any) -> None:
    with trio.fail_after(10):
        async with open_websocket_url(_ws_url(served)) as ws:
            await ws.send_message('{"type":"session.update"}')
            (error,) = await _turn(ws)
        assert error["status"] == 400
        with pytest.raises(ConnectionRejected):
            async with open_websocket_url(served.url.replace("http://", "ws://") + "/v1/messages"):
                pass
