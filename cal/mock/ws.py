"""Codex's WebSocket mode of the Responses API: `GET /v1/responses` upgraded, one turn per frame.

Each client text frame is `{"type":"response.create", …request fields…}`. The mock answers with the
event objects a POST stream carries, one JSON text frame each. A prewarm frame (`generate: false`)
gets response.created and response.completed with no output. Faults apply as over HTTP: a status
becomes an `error` frame with `status` and `error.headers`; `error-event` ends the turn with
response.failed; `malformed` adds a broken frame; `cut-after=N` closes the socket (1011) after N
frames. The upgrade and every frame are recorded in `provider.received` (frames as method "WS").
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
import trio

from cal.mock import openai_responses
from cal.mock.faults import Faults, error_response_body, rate_limit_headers, shape_stream
from cal.mock.incoming import Incoming, MockRequestError, Receive, Scope, Send
from cal.mock.reply import PathInfo, plan_reply

if TYPE_CHECKING:
    from cal.mock.app import MockProvider

WS_PATH = "/v1/responses"


class _Frame(msgspec.Struct):
    type: str = ""
    generate: bool = True


_frame_decoder = msgspec.json.Decoder(_Frame)


def event_json(event: bytes) -> bytes:
    """The JSON of an `event: …\\ndata: …\\n\\n` SSE event (what a WebSocket frame carries)."""
    at = event.find(b"data: ")
    return event[at + 6 :].rstrip(b"\n") if at >= 0 else event.rstrip(b"\n")


def error_frame(status: int, request_id: str, faults: Faults | None = None) -> bytes:
    """An `error` frame: the HTTP error body plus `type`, `status` and `error.headers`."""
    retry_after = faults.retry_after if faults else None
    payload = msgspec.json.decode(
        error_response_body("openai-responses", status, request_id, retry_after)
    )
    headers = rate_limit_headers("openai-responses", retry_after) if status == 429 else []
    payload["error"]["headers"] = {k.decode(): v.decode() for k, v in headers}
    return msgspec.json.encode({"type": "error", "status": status, **payload})


def _invalid_frame(message: str) -> bytes:
    error = {"type": "invalid_request_error", "code": None, "message": message, "param": None}
    return msgspec.json.encode({"type": "error", "status": 400, "error": error})


async def _send_frames(send: Send, frames: list[bytes], interval_s: float) -> None:
    for i, frame in enumerate(frames):
        if i and interval_s:
            await trio.sleep(interval_s)
        await send({"type": "websocket.send", "text": frame.decode()})


async def _answer(provider: MockProvider, incoming: Incoming, send: Send) -> bool:
    """Answer one frame; False when a fault closed the socket."""
    try:
        frame = _frame_decoder.decode(incoming.body)
        if frame.type != "response.create":
            raise MockRequestError(f"unsupported frame type {frame.type!r}")
        turn = openai_responses.parse_turn(incoming.body, PathInfo())
        options = provider.options_for(incoming)
        faults = provider.faults_for(turn.model, incoming)
    except (msgspec.DecodeError, MockRequestError) as exc:
        await _send_frames(send, [_invalid_frame(str(exc))], 0)
        return True
    rid = provider.next_rid()
    if faults.delay_ms:
        await trio.sleep(faults.delay_ms / 1000)
    if faults.status is not None:
        await _send_frames(send, [error_frame(faults.status, f"req_{rid}", faults)], 0)
        return True
    turn.stream = True
    reply = plan_reply(turn, options, rid=rid, created=int(time.time()))
    render = openai_responses.render_stream if frame.generate else openai_responses.render_prewarm
    frames = [event_json(event) for event in render(turn, reply)]

    def failed(seq: int) -> bytes:
        return event_json(openai_responses.render_stream_error(turn, reply, seq))

    await _send_frames(send, shape_stream(frames, faults, failed), options.interval_ms / 1000)
    if faults.cut_after is not None:
        await send({"type": "websocket.close", "code": 1011})
        return False
    return True


async def serve_websocket(
    provider: MockProvider, scope: Scope, receive: Receive, send: Send
) -> None:
    """Accept the upgrade on /v1/responses (refuse others with 403) and answer frames until closed."""
    if (await receive())["type"] != "websocket.connect":
        return
    if scope["path"].rstrip("/") != WS_PATH:
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    provider.received.append(Incoming(scope, b"").record())
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("bytes") or (message.get("text") or "").encode()
        incoming = Incoming({**scope, "method": "WS"}, data)
        provider.received.append(incoming.record())
        if not await _answer(provider, incoming, send):
            return
