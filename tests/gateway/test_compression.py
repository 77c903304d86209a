"""Upstreams that compress (br, zstd, gzip): cal reads what it forwards, records it decoded and
gives the client a valid, decoded body."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import brotli
import httpx
import pytest
import trio
import zstandard

from cal.routing.model import Endpoint
from cal.serve import serve_asgi

STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":5,'
    b'"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"compressed hello"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":3}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)
BODY = (
    b'{"id":"msg_2","type":"message","role":"assistant","model":"m","content":[{"type":"text",'
    b'"text":"compressed hello"}],"stop_reason":"end_turn","usage":{"input_tokens":5,'
    b'"output_tokens":3}}'
)
CODECS: dict[str, Callable[[bytes], bytes]] = {
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "gzip": gzip.compress,
}


def _compressing_upstream(encoding: str, seen: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(dict(scope["headers"]).get(b"accept-encoding", b"").decode())
        stream = b'"stream":true' in raw
        payload = CODECS[encoding](STREAM if stream else BODY)
        content_type = b"text/event-stream" if stream else b"application/json"
        headers = [(b"content-type", content_type), (b"content-encoding", encoding.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_compressed_upstream_answers_reach_the_client_decoded(
    harness: Any, nursery: trio.Nursery, encoding: str, stream: bool
) -> None:
    seen: list[str] = []
    stop = trio.Event()
    host, port = await nursery.start(
        serve_asgi, _compressing_upstream(encoding, seen), "127.0.0.1", 0, stop
    )
    harness.use(Endpoint("compressing", f"http://{host}:{port}", "anthropic"))
    request = {
        "model": "m",
        "max_tokens": 8,
        "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            harness.url + "/v1/messages",
            json=request,
            headers={"accept-encoding": "br, zstd, gzip"},
        )
    stop.set()
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert response.content == (STREAM if stream else BODY)
    assert seen == ["gzip, br, zstd"]
    exchange = (await harness.sink.wait_for(1))[-1]
    assert exchange.error is None
    assert exchange.usage.output_tokens == 3
    if stream:
        assert b"".join(e.data for e in exchange.raw_events) == STREAM
    else:
        assert exchange.attempts[-1].response_body == BODY
