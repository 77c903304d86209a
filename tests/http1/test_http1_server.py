"""cal/http1's server over real sockets: framing, keep-alive, disconnects, websockets, stop.

The client side is written out by hand (raw bytes in, a small response reader) so each test says
exactly what went over the wire; the websocket tests use trio-websocket.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

from cal.http1.wire import MAX_HEAD_BYTES
from cal.serve import PortInUseError, serve_http1

App = Callable[[Any, Any, Any], Awaitable[None]]


class Served:
    def __init__(self, port: int, stop: trio.Event) -> None:
        self.port, self.stop = port, stop
        self.url = f"http://127.0.0.1:{port}"

    async def connect(self) -> RawClient:
        return RawClient(await trio.open_tcp_stream("127.0.0.1", self.port))


@asynccontextmanager
async def serving(app: App, graceful_timeout: float = 5.0) -> AsyncIterator[Served]:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        serve = partial(serve_http1, graceful_timeout=graceful_timeout)
        server = await nursery.start(serve, app, "127.0.0.1", 0, stop)
        try:
            yield Served(server[1], stop)
        finally:
            stop.set()


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


class RawClient:
    """Bytes out as given; responses read back with their framing checked."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def _more(self) -> bool:
        data = await self.stream.receive_some(65536)
        self.buffer += data
        return bool(data)

    async def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not await self._more():
                raise EOFError(f"closed before {marker!r}; got {self.buffer!r}")
        at = self.buffer.index(marker) + len(marker)
        out, self.buffer = self.buffer[:at], self.buffer[at:]
        return out

    async def read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            if not await self._more():
                raise EOFError("closed inside a body")
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    async def head(self) -> tuple[int, list[tuple[str, str]]]:
        lines = (await self.read_until(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        return status, headers

    async def next_chunk(self) -> bytes:
        size = int((await self.read_until(b"\r\n"))[:-2], 16)
        data = await self.read_exactly(size)
        assert await self.read_exactly(2) == b"\r\n"
        return data

    async def response(self, *, head_only: bool = False) -> Response:
        status, headers = await self.head()
        found = Response(status, headers, b"")
        if head_only or status in (204, 304):
            return found
        if found.header("transfer-encoding") == "chunked":
            body = b""
            while chunk := await self.next_chunk():
                body += chunk
            found.body = body
        elif (length := found.header("content-length")) is not None:
            found.body = await self.read_exactly(int(length))
        else:
            while await self._more():
                pass
            found.body, self.buffer = self.buffer, b""
        return found

    async def closed(self) -> bool:
        """True when the server closes the connection (with nothing more sent)."""
        try:
            return not await self._more()
        except trio.BrokenResourceError:
            return True

    async def aclose(self) -> None:
        await self.stream.aclose()


def get(path: str = "/", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: t\r\n{extra}\r\n".encode()


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers with what it saw: method, path, body, the number of body messages."""
    body, messages = b"", 0
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        body += message["body"]
        messages += 1
        if not message["more_body"]:
            break
    answer = {
        "method": scope["method"],
        "path": scope["path"],
        "raw_path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "http_version": scope["http_version"],
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "client": list(scope["client"]),
        "server": list(scope["server"]),
        "body": body.decode(),
        "messages": messages,
    }
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


async def test_keep_alive_serves_requests_in_turn_with_the_scope_filled() -> None:
    async with serving(echo) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(get("/a%20b/c?x=1&y=%20", "X-Mixed-Case: V\r\n"))
            first = await client.response()
            await client.send(b"POST /p HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\nhello")
            second = await client.response()
            await client.aclose()
    assert first.status == 200 and first.header("x-app") == "1"
    assert first.header("date") and first.header("server") is None
    assert first.header("content-length") == str(len(first.body))
    seen = json.loads(first.body)
    assert seen["path"] == "/a b/c" and seen["raw_path"] == "/a%20b/c"
    assert seen["query"] == "x=1&y=%20" and seen["http_version"] == "1.1"
    assert ["x-mixed-case", "V"] in seen["headers"]
    assert seen["client"][0] == "127.0.0.1" and seen["server"] == ["127.0.0.1", served.port]
    assert json.loads(second.body)["body"] == "hello"


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with serving(echo) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(
                get("/one")
                + b"POST /two HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\n\r\nabc"
                + get("/three")
            )
            answers = [json.loads((await client.response()).body) for _ in range(3)]
            await client.aclose()
    assert [a["path"] for a in answers] == ["/one", "/two", "/three"]
    assert answers[1]["body"] == "abc"


async def test_chunked_request_body_arrives_as_it_is_sent() -> None:
    got: list[tuple[bytes, bool]] = []
    second_part_sent = trio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            got.append((message["body"], message["more_body"]))
            if len(got) == 1:
                second_part_sent.set()
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body"})

    async with serving(app) as served:
        with trio.fail_after(10):
            client = await served.connect()
            head = b"POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n"
            await client.send(head + b"5\r\nhello\r\n")
            await second_part_sent.wait()  # the app saw the first chunk before the rest was sent
            await client.send(b"6\r\n world\r\n0\r\n\r\n")
            response = await client.response()
            await client.send(get())  # the connection is still usable
            again = await client.response()
            await client.aclose()
    assert got[0] == (b"hello", True)
    assert b"".join(body for body, _ in got) == b"hello world" and got[-1][1] is False
    assert response.status == 204 and response.header("content-length") is None
    assert again.status == 204


@pytest.mark.parametrize("size", [200_000, 1_500_000])  # the second grows the buffer
async def test_content_length_body_sent_in_pieces_arrives_in_one_message(size: int) -> None:
    body = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    step = size // 3 + 1
    async with serving(echo) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(
                b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: %d\r\n\r\n" % len(body)
            )
            for start in range(0, size, step):  # three writes with pauses between
                await trio.sleep(0.05)
                await client.send(body[start : start + step])
            response = await client.response()
            await client.send(get())  # the next request on the connection is intact
            again = await client.response()
            await client.aclose()
    answer = json.loads(response.body)
    assert answer["messages"] == 1 and answer["body"] == body.decode()
    assert again.status == 200 and json.loads(again.body)["method"] == "GET"


async def _seen_when_the_client_leaves(request: bytes, receives: int) -> list[str]:
    """The message types the app gets from `receives` calls of receive(), when the client sends
    `request` and then closes the connection."""
    seen: list[str] = []
    done = trio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(receives):
            seen.append((await receive())["type"])
        done.set()

    async with serving(app) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(request)
            await trio.sleep(0.1)
            await client.aclose()
            await done.wait()
    return seen


async def test_client_leaving_inside_a_content_length_body_is_a_disconnect() -> None:
    request = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nshort"
    assert await _seen_when_the_client_leaves(request, 1) == ["http.disconnect"]


async def test_expect_continue_is_answered_when_the_app_reads() -> None:
    async with serving(echo) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(
                b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 4\r\nexpect: 100-continue\r\n\r\n"
            )
            status, _ = await client.head()
            await client.send(b"data")
            response = await client.response()
            await client.aclose()
    assert status == 100
    assert response.status == 200 and json.loads(response.body)["body"] == "data"


async def test_oversized_head_gets_431_and_malformed_gets_400() -> None:
    async with serving(echo) as served:
        with trio.fail_after(10):
            big = await served.connect()
            await big.send(b"GET / HTTP/1.1\r\nx-big: " + b"a" * (MAX_HEAD_BYTES + 10))
            too_large = await big.response()
            await big.aclose()
            bad = await served.connect()
            await bad.send(b"NOT A REQUEST\r\n\r\n")
            malformed = await bad.response()
            closed = await bad.closed()
            await bad.aclose()
    assert too_large.status == 431 and too_large.header("connection") == "close"
    assert malformed.status == 400 and closed


async def test_http10_and_connection_close_end_the_connection() -> None:
    async with serving(echo) as served:
        with trio.fail_after(10):
            old = await served.connect()
            await old.send(b"GET /old HTTP/1.0\r\n\r\n")
            old_answer = await old.response()
            assert await old.closed()
            await old.aclose()
            polite = await served.connect()
            await polite.send(get("/bye", "connection: close\r\n"))
            bye = await polite.response()
            assert await polite.closed()
            await polite.aclose()
    assert json.loads(old_answer.body)["http_version"] == "1.0"
    assert old_answer.header("connection") == "close" and bye.header("connection") == "close"


async def test_streamed_response_is_chunked_and_each_part_leaves_at_once() -> None:
    client_has_first = trio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await client_has_first.wait()
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    async with serving(app) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(get())
            status, headers = await client.head()
            first = await client.next_chunk()
            client_has_first.set()
            rest = [await client.next_chunk(), await client.next_chunk()]
            await client.aclose()
    assert status == 200 and ("transfer-encoding", "chunked") in headers
    assert first == b"first" and rest == [b"second", b""]


async def test_head_request_gets_the_length_but_no_body() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"twelve bytes"})

    async with serving(app) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(b"HEAD / HTTP/1.1\r\nhost: t\r\n\r\n" + get())
            head = await client.response(head_only=True)
            after = await client.response()
            await client.aclose()
    assert head.header("content-length") == "12" and after.body == b"twelve bytes"


async def test_client_leaving_mid_stream_makes_send_raise() -> None:
    raised: list[BaseException] = []
    done = trio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x" * 100, "more_body": True})
                await trio.sleep(0.01)
        except OSError as exc:
            raised.append(exc)
        finally:
            done.set()

    async with serving(app) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(get())
            await client.head()
            await client.next_chunk()
            await client.aclose()
            await done.wait()
    assert raised and isinstance(raised[0], OSError)


async def test_client_leaving_while_the_app_waits_in_receive_is_a_disconnect() -> None:
    request = b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\nhi"
    seen = await _seen_when_the_client_leaves(request, 2)  # the second waits while it leaves
    assert seen == ["http.request", "http.disconnect"]


async def test_a_watcher_in_receive_is_released_when_the_response_completes() -> None:
    """GatewayRequest's pattern: a task waits in receive() while another sends the response."""
    watcher_saw: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

        async def watch() -> None:
            watcher_saw.append((await receive())["type"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await trio.sleep(0.05)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    async with serving(app) as served:
        with trio.fail_after(10):
            client = await served.connect()
            await client.send(get() + get())  # the second request waits while the first is served
            first, second = await client.response(), await client.response()
            await client.aclose()
    assert first.body == second.body == b"ok"
    assert watcher_saw == ["http.disconnect", "http.disconnect"]


async def test_app_errors_give_500_before_the_response_and_a_close_after() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("app bug")

    async with serving(app) as served:
        with trio.fail_after(10):
            early = await served.connect()
            await early.send(get("/early"))
            failed = await early.response()
            await early.aclose()
            late = await served.connect()
            await late.send(get("/late"))
            await late.head()
            assert await late.next_chunk() == b"part"
            assert await late.closed()
            await late.aclose()
    assert failed.status == 500


async def websocket_app(scope: Any, receive: Any, send: Any) -> None:
    """Echoes frames on /echo (subprotocol chosen from the offer); refuses /refuse and /404."""
    assert (await receive())["type"] == "websocket.connect"
    if scope["path"] == "/refuse":
        await send({"type": "websocket.close", "code": 1008})
        return
    if scope["path"] == "/404":
        await send({"type": "websocket.http.response.start", "status": 404, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"nothing here"})
        return
    await send({"type": "websocket.accept", "subprotocol": (scope["subprotocols"] or [None])[0]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close please":
            await send({"type": "websocket.close", "code": 4000})
            return
        data = {k: message[k] for k in ("text", "bytes") if k in message}
        await send({"type": "websocket.send", **data})


async def test_websocket_echo_close_and_refusals() -> None:
    async with serving(websocket_app) as served:
        ws_url = served.url.replace("http://", "ws://")
        with trio.fail_after(10):
            async with open_websocket_url(ws_url + "/echo", subprotocols=["cal"]) as ws:
                await ws.send_message("hello")
                text = await ws.get_message()
                await ws.send_message(b"\x00bytes")
                data = await ws.get_message()
                protocol = ws.subprotocol
                await ws.send_message("close please")
                with pytest.raises(ConnectionClosed):
                    await ws.get_message()
                close_code = ws.closed.code if ws.closed else None
            with pytest.raises(ConnectionRejected) as refused:
                async with open_websocket_url(ws_url + "/refuse"):
                    pass
            with pytest.raises(ConnectionRejected) as missing:
                async with open_websocket_url(ws_url + "/404"):
                    pass
    assert text == "hello" and data == b"\x00bytes" and protocol == "cal"
    assert close_code == 4000
    assert refused.value.status_code == 403
    assert missing.value.status_code == 404 and missing.value.body == b"nothing here"


async def test_stop_closes_idle_connections_and_lets_requests_in_flight_finish() -> None:
    started = trio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            started.set()
            await trio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    async with serving(app, graceful_timeout=5) as served:
        with trio.fail_after(10):
            idle = await served.connect()
            await idle.send(get("/first"))
            await idle.response()
            busy = await served.connect()
            await busy.send(get("/slow"))
            await started.wait()
            served.stop.set()
            assert await idle.closed()  # at once, not after the slow request
            slow = await busy.response()
            assert await busy.closed()
            await idle.aclose()
            await busy.aclose()
            with pytest.raises(OSError):
                await trio.open_tcp_stream("127.0.0.1", served.port)
    assert slow.body == b"/slow" and slow.header("connection") == "close"


async def test_stop_cancels_what_outlives_the_grace_period() -> None:
    cancelled = trio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            cancelled.set()
            raise

    with trio.fail_after(10):
        async with serving(app, graceful_timeout=0.2) as served:
            client = await served.connect()
            await client.send(get())
            await trio.sleep(0.05)
            served.stop.set()
            await cancelled.wait()
            assert await client.closed()
            await client.aclose()


async def test_port_in_use_is_reported_and_httpx_talks_to_the_server() -> None:
    async with serving(echo) as served:
        with trio.fail_after(10):
            with pytest.raises(PortInUseError):
                await serve_http1(echo, "127.0.0.1", served.port, trio.Event())
            async with httpx.AsyncClient() as client:
                answers = [
                    (await client.post(served.url + f"/n{i}", content=b"x" * i)).json()
                    for i in range(3)
                ]
    assert [a["body"] for a in answers] == ["", "x", "xx"]
