"""cal/http1's client pool over real sockets: reuse, stale connections, expiry, the bound and its
FIFO queue, cancellation, and TLS against a local server with a certificate made here."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from http1_raw_servers import RawConnection, answer, keep_answering, raw_server

from cal.http1.client import ConnectError, ConnectTimeout, HttpClient, default_ssl_context
from cal.http1.pool import OriginPool

LIMIT_S = 10.0


def _pool(client: HttpClient) -> OriginPool:
    return next(iter(client._pools.values()))


async def test_one_connection_serves_many_requests() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer(b"hi"))) as server:
            client = HttpClient()
            for _ in range(20):
                response = await client.send("POST", server.url, [], b"x", connect_timeout_s=5)
                assert await response.read() == b"hi"
                await response.aclose()
            assert server.accepted == 1
            assert (_pool(client).open_count, len(_pool(client).idle)) == (1, 1)
            await client.aclose()
            assert _pool(client).open_count == 0


async def _answer_once_then_close(connection: RawConnection) -> None:
    await connection.read_request()
    await connection.send(answer(b"first"))


async def test_a_kept_connection_the_server_closed_is_not_used() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(_answer_once_then_close) as server:
            client = HttpClient()
            for _ in range(3):
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                assert await response.read() == b"first"
                await response.aclose()
                await trio.sleep(0.05)  # the server's close arrives while the connection idles
            assert server.accepted == 3


async def _drop_second_request(connection: RawConnection) -> None:
    await connection.read_request()
    await connection.send(answer(b"first"))
    await connection.read_request()  # read, then close without a byte of answer


async def test_a_reused_connection_that_fails_before_any_byte_is_retried_once_fresh() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(_drop_second_request) as server:
            client = HttpClient()
            first = await client.send("POST", server.url, [], b"one", connect_timeout_s=5)
            assert await first.read() == b"first"
            second = await client.send("POST", server.url, [], b"two", connect_timeout_s=5)
            assert await second.read() == b"first"
            assert server.accepted == 2
            assert server.bodies == [b"one", b"two", b"two"]


async def test_waiting_is_called_before_a_connect_and_once_the_request_is_written() -> None:
    """`waiting` marks where a call starts to wait on the network: before a new connection is
    opened (not before a kept one is reused), and once the request is written."""
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer(b"hi"))) as server:
            client = HttpClient()
            for expected in (["connect", "written"], ["written"]):
                seen: list[str] = []

                def waiting(seen: list[str] = seen) -> None:
                    seen.append("connect" if _pool(client).open_count == 0 else "written")

                response = await client.send(
                    "POST", server.url, [], b"x", connect_timeout_s=5, waiting=waiting
                )
                assert await response.read() == b"hi"
                assert seen == expected
            assert server.accepted == 1


async def test_idle_connections_expire() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(keepalive_expiry_s=0.05)
            for _ in range(2):
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                await response.read()
                await trio.sleep(0.1)
            assert server.accepted == 2
            assert _pool(client).open_count == 1


async def test_the_pool_bound_queues_requests_fifo_then_times_out() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer(b"done"))) as server:
            client = HttpClient(max_connections=1)
            held = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            with pytest.raises(ConnectTimeout):
                await client.send("GET", server.url, [], b"", connect_timeout_s=0.1)
            order: list[int] = []

            async def queued(index: int) -> None:
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                order.append(index)
                await response.read()

            async with trio.open_nursery() as nursery:
                for index in range(5):
                    nursery.start_soon(queued, index)
                    await trio.sleep(0.01)
                await held.read()  # frees the only connection: the queue moves in order
            assert order == [0, 1, 2, 3, 4]
            assert server.accepted == 1


async def test_a_waiter_that_gives_up_does_not_hold_the_queue() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer())) as server:
            client = HttpClient(max_connections=1)
            held = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            with trio.move_on_after(0.05):
                await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            await held.aclose()  # unread body: the connection closes, its slot is free
            response = await client.send("GET", server.url, [], b"", connect_timeout_s=1)
            assert await response.read() == b"ok"
            assert _pool(client).open_count == 1


async def _slow_body(connection: RawConnection) -> None:
    while await connection.read_request() is not None:
        await connection.send(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await trio.sleep(0.3)
        await connection.send(b"defghij")


async def test_a_cancelled_read_leaves_no_connection_behind() -> None:
    with trio.fail_after(LIMIT_S):
        async with raw_server(_slow_body) as server:
            client = HttpClient()
            response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            try:
                with trio.move_on_after(0.05):
                    await response.read()
            finally:
                await response.aclose()
            pool = _pool(client)
            assert (pool.open_count, len(pool.idle)) == (0, 0)
            again = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            assert await again.read() == b"abcdefghij"
            assert server.accepted == 2


async def test_a_cancelled_send_leaves_no_connection_behind() -> None:
    async def never_answers(connection: RawConnection) -> None:
        await connection.read_request()
        await trio.sleep_forever()

    with trio.fail_after(LIMIT_S):
        async with raw_server(never_answers) as server:
            client = HttpClient()
            with trio.move_on_after(0.05):
                await client.send("GET", server.url, [], b"", connect_timeout_s=5)
            assert (_pool(client).open_count, len(_pool(client).idle)) == (0, 0)


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cal test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_tls_with_sni_alpn_and_certificate_checks(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server_context.set_alpn_protocols(["http/1.1"])
    trusting = ssl.create_default_context(cafile=str(cert))
    trusting.set_alpn_protocols(["http/1.1"])
    with trio.fail_after(LIMIT_S):
        async with raw_server(keep_answering(answer(b"secret")), server_context) as server:
            assert server.url.startswith("https://")
            client = HttpClient(ssl_context=trusting)
            for _ in range(2):
                response = await client.send("GET", server.url, [], b"", connect_timeout_s=5)
                assert await response.read() == b"secret"
            assert server.accepted == 1
            connection = _pool(client).idle[0]
            assert isinstance(connection.stream, trio.SSLStream)
            assert connection.stream.selected_alpn_protocol() == "http/1.1"
            with pytest.raises(ConnectError):  # certifi's CAs do not know our certificate
                await HttpClient().send("GET", server.url, [], b"", connect_timeout_s=5)


def test_the_default_tls_context_checks_certificates() -> None:
    context = default_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
