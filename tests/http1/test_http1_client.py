"""cal/http1's client against real servers: the mock provider and tiny raw ones (framing, decoding,
1xx, errors); the pool's reuse, bounds and cancellation are in test_http1_client_pool.py."""

from __future__ import annotations

import gzip
import random
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import brotli
import msgspec
import pytest
import trio
import zstandard
from http1_raw_servers import RawConnection, answer, keep_answering, raw_server

from cal.http1.client import (
    ConnectError,
    DecodingError,
    HttpClient,
    ReadError,
    RemoteProtocolError,
)
from cal.mock import MockOptions
from cal.mock.service import MockService

LIMIT_S = 10.0
ANTHROPIC = [("content-type", "application/json"), ("x-api-key", "k")]


@asynccontextmanager
async def mock_provider() -> AsyncIterator[str]:
    mock = MockService(MockOptions(), host="127.0.0.1", port=0)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(mock.run, stop)
        try:
            yield mock.url
        finally:
            stop.set()


def _message(*, stream: bool) -> bytes:
    return msgspec.json.encode(
        {
            "model": "claude-mock",
            "max_tokens": 32,
            "stream": stream,
            "messages": [{"role": "user", "content": "hello"}],
        }
    )


async def test_mock_provider_answers_whole_and_streamed_over_one_connection() -> None:
    with trio.fail_after(LIMIT_S):
        async with mock_provider() as url:
            client = HttpClient()
            response = await client.send(
                "POST", url + "/v1/messages", ANTHROPIC, _message(stream=False), connect_timeout_s=5
            )
            assert response.status == 200
            assert response.http_version == "1.1"
            assert ("content-type", "application/json") in response.headers
            body = msgspec.json.decode(await response.read())
            assert body["type"] == "message"
            await response.aclose()

            streamed = await client.send(
                "POST", url + "/v1/messages", ANTHROPIC, _message(stream=True), connect_timeout_s=5
            )
            pieces = [piece async for piece in streamed.iter_bytes()]
            await streamed.aclose()
            text = b"".join(pieces)
            assert text.startswith(b"event: message_start")
            assert b"message_stop" in text
            pool = next(iter(client._pools.values()))
            assert (pool.open_count, len(pool.idle)) == (1, 1)
            await client.aclose()


async def test_the_client_adds_host_and_content_length_only() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient()
            sent = [("x-one", "1"), ("X-Two", "2")]
            response = await client.send(
                "POST", server.url + "/a/b?c=d", sent, b"hello", connect_timeout_s=5
            )
            assert await response.read() == b"ok"
            got = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            await got.read()
            host = b"host: 127.0.0.1:%d" % server.port
            assert server.heads[0].split(b"\r\n") == [
                b"POST /a/b?c=d HTTP/1.1",
                host,
                b"x-one: 1",
                b"x-two: 2",
                b"content-length: 5",
            ]
            assert server.heads[1].split(b"\r\n") == [b"GET / HTTP/1.1", host]
            assert server.bodies == [b"hello"]


async def test_a_body_larger_than_the_socket_buffer_arrives_whole() -> None:
    """A body larger than the socket's buffer is taken by the kernel in parts: the server gets
    every byte in order, and the connection serves on."""
    body = random.Random(7).randbytes(3 * 1024 * 1024)
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient()
            for path in ("/big", "/again"):
                response = await client.send(
                    "POST", server.url + path, [], body, connect_timeout_s=5
                )
                assert await response.read() == b"ok"
            assert server.bodies == [body, body]
            assert server.heads[1].split(b"\r\n")[-1] == b"content-length: %d" % len(body)
            assert server.accepted == 1


async def _chunked(connection: RawConnection) -> None:
    await connection.read_request()
    await connection.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel")
    await trio.sleep(0.01)
    await connection.send(b"lo\r\n6;x=y\r\n world\r\n0\r\ntrailer: t\r\n")
    await trio.sleep(0.01)
    await connection.send(b"\r\n")
    await keep_answering(answer(b"again"))(connection)


async def test_chunked_body_arrives_in_pieces_and_the_connection_is_reused() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(_chunked) as server:
            client = HttpClient()
            response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            pieces = [piece async for piece in response.iter_bytes()]
            assert b"".join(pieces) == b"hello world"
            assert len(pieces) >= 2
            await response.aclose()
            again = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            assert await again.read() == b"again"
            assert server.accepted == 1


async def _close_delimited(connection: RawConnection) -> None:
    await connection.read_request()
    await connection.send(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ")
    await connection.send(b"the end")


async def test_close_delimited_body_reads_to_the_close_and_is_not_reused() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(_close_delimited) as server:
            client = HttpClient()
            for _ in range(2):
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                assert await response.read() == b"until the end"
                await response.aclose()
            assert server.accepted == 2


def _encoded(name: str, data: bytes) -> bytes:
    if name == "gzip":
        return gzip.compress(data)
    if name == "deflate":
        return zlib.compress(data)
    if name == "br":
        return bytes(brotli.compress(data))
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
async def test_compressed_bodies_are_decoded(encoding: str) -> None:
    text = b"the same words again and again " * 200
    encoded = _encoded(encoding, text)

    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(
            b"HTTP/1.1 200 OK\r\ncontent-encoding: %b\r\ntransfer-encoding: chunked\r\n\r\n"
            % encoding.encode()
        )
        half = len(encoded) // 2
        for part in (encoded[:half], encoded[half:]):
            await connection.send(b"%x\r\n%b\r\n" % (len(part), part))
            await trio.sleep(0.005)
        await connection.send(b"0\r\n\r\n")

    with trio.fail_after(LIMIT_S):
        async with raw_server(handler) as server:
            response = await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)
            assert ("content-encoding", encoding) in response.headers
            assert await response.read() == text


async def test_stacked_encodings_and_a_body_that_does_not_decode() -> None:
    text = b"twice encoded"
    twice = _encoded("br", gzip.compress(text))
    stacked = answer(twice, b"content-encoding: gzip, br")
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(stacked)) as server:
            response = await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)
            assert await response.read() == text
        junk = answer(b"not gzip at all", b"content-encoding: gzip")
        async with raw_server(keep_answering(junk)) as server:
            response = await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)
            with pytest.raises(DecodingError):
                await response.read()
            await response.aclose()


async def test_a_body_that_came_with_its_head_is_read_at_once() -> None:
    gzipped = answer(gzip.compress(b"small and whole"), b"content-encoding: gzip")
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(gzipped)) as server:
            client = HttpClient()
            for _ in range(2):  # the connection goes back to the pool and serves again
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                assert response.read_buffered() == b"small and whole"
                assert await response.read() == b""  # nothing is left to read
            assert server.accepted == 1

    async def slow_tail(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf ")
        await trio.sleep(0.05)
        await connection.send(b"more!")

    with trio.fail_after(LIMIT_S):
        async with raw_server(slow_tail) as server:
            response = await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)
            assert response.read_buffered() is None  # not all there: read as it comes
            assert await response.read() == b"half more!"


async def test_informational_answers_are_skipped() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        await connection.send(b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n")
        await connection.send(answer(b"final", status=b"201 Created"))

    with trio.fail_after(LIMIT_S):
        async with raw_server(handler) as server:
            response = await HttpClient().send("POST", server.url, [], b"x", connect_timeout_s=5)
            assert response.status == 201
            assert await response.read() == b"final"


async def test_head_and_no_content_answers_have_no_body() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n")
        await connection.read_request()
        await connection.send(b"HTTP/1.1 204 No Content\r\n\r\n")
        await keep_answering(answer(b"third"))(connection)

    with trio.fail_after(LIMIT_S):
        async with raw_server(handler) as server:
            client = HttpClient()
            head = await client.send("HEAD", server.url, [], b"", connect_timeout_s=5)
            assert await head.read() == b""
            empty = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            assert (empty.status, await empty.read()) == (204, b"")
            third = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            assert await third.read() == b"third"
            assert server.accepted == 1


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 2xx OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"x-big: " + b"y" * 70000,
    ],
)
async def test_malformed_heads_are_remote_protocol_errors(reply: bytes) -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()
        await connection.send(reply)
        await trio.sleep_forever()

    with trio.fail_after(LIMIT_S):
        async with raw_server(handler) as server:
            with pytest.raises(RemoteProtocolError):
                await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)


async def test_bad_chunk_and_short_body_are_errors() -> None:
    bad_chunk = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"
    short = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nonly5"
    with trio.fail_after(LIMIT_S):
        for reply, error in ((bad_chunk, RemoteProtocolError), (short, ReadError)):

            async def handler(connection: RawConnection, reply: bytes = reply) -> None:
                await connection.read_request()
                await connection.send(reply)

            async with raw_server(handler) as server:
                client = HttpClient()
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                with pytest.raises(error):
                    await response.read()
                await response.aclose()
                pool = next(iter(client._pools.values()))
                assert (pool.open_count, len(pool.idle)) == (0, 0)


async def test_a_server_that_closes_without_answering_is_a_read_error() -> None:
    async def handler(connection: RawConnection) -> None:
        await connection.read_request()

    with trio.fail_after(LIMIT_S):
        async with raw_server(handler) as server:
            with pytest.raises(ReadError):
                await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)


async def test_refused_connect_is_a_connect_error() -> None:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with trio.fail_after(LIMIT_S), pytest.raises(ConnectError):
        await HttpClient().send("GET", f"http://127.0.0.1:{port}/", [], b"", connect_timeout_s=5)


async def test_urls_that_are_not_http_are_connect_errors() -> None:
    with pytest.raises(ConnectError):
        await HttpClient().send("GET", "ftp://example.com/", [], b"", connect_timeout_s=1)


async def test_a_target_with_spaces_or_non_ascii_is_percent_encoded() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer())) as server:
            url = server.url + "/models/café au lait?q=a b"
            response = await HttpClient().send("GET", url, [], b"", connect_timeout_s=5)
            assert await response.read() == b"ok"
            assert server.heads[0].startswith(b"GET /models/caf%C3%A9%20au%20lait?q=a%20b HTTP/1.1")
