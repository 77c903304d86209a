"""cal/http1/wire.py: head parsing, body framing (RFC 9112 §6.3), chunked coding in any split."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, strategies as st

from cal.http1.wire import (
    LAST_CHUNK,
    ChunkedDecoder,
    ProtocolError,
    body_framing,
    encode_chunk,
    encode_request_head,
    encode_response_head,
    parse_request_head,
    parse_response_head,
)


def test_request_head_parses_names_lowercased_values_stripped_duplicates_kept() -> None:
    head = b"POST /v1/messages?x=1 HTTP/1.1\r\nHost: a\r\nX-Dup:  one \r\nx-dup:\ttwo\t\r\nEmpty:"
    method, target, version, headers = parse_request_head(head)
    assert (method, target, version) == (b"POST", b"/v1/messages?x=1", b"HTTP/1.1")
    assert headers == [(b"host", b"a"), (b"x-dup", b"one"), (b"x-dup", b"two"), (b"empty", b"")]


def test_request_head_value_may_hold_colons() -> None:
    _, _, _, headers = parse_request_head(b"GET / HTTP/1.0\r\nReferer: http://x:1/a")
    assert headers == [(b"referer", b"http://x:1/a")]


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nA: b\r\n folded",  # obs-fold
        b"GET / HTTP/1.1\r\nA: b\r\n\tfolded",
        b"GET / HTTP/1.1\r\nBad Name: x",
        b"GET / HTTP/1.1\r\nName : x",
        b"GET / HTTP/1.1\r\n: x",
        b"GET / HTTP/1.1\r\nno-colon",
        b"GET / HTTP/1.1\r\nA: b\nC: d",  # bare LF
        b"GET / HTTP/1.1\r\nA: b\rc",  # bare CR
        b"GET / HTTP/1.1\r\nA: b\x00",
        b"GET /  HTTP/1.1",
        b"GET / HTTP/11",
        b"GET / FTP/1.1",
        b"G(T / HTTP/1.1",
        b"GET",
        b"",
    ],
)
def test_malformed_request_heads_are_protocol_errors(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_request_head(head)


def test_response_head_parses_status_reason_headers() -> None:
    status, reason, headers = parse_response_head(
        b"HTTP/1.1 404 Not Found Here\r\nContent-Length: 3"
    )
    assert (status, reason, headers) == (404, b"Not Found Here", [(b"content-length", b"3")])
    assert parse_response_head(b"HTTP/1.0 200 ")[:2] == (200, b"")
    assert parse_response_head(b"HTTP/1.1 204")[:2] == (204, b"")


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 abc OK",
        b"HTTX/1.1 200 OK",
        b"200 OK",
        b"",
    ],
)
def test_bad_status_lines_are_protocol_errors(head: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_response_head(head)


def test_heads_over_the_limit_are_refused() -> None:
    big = b"GET / HTTP/1.1\r\nA: " + b"x" * 70000
    with pytest.raises(ProtocolError):
        parse_request_head(big)


def _h(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(n.encode(), v.encode()) for n, v in pairs]


def test_request_framing() -> None:
    assert body_framing([], is_response=False) == ("none", None)
    assert body_framing(_h(("content-length", "12")), is_response=False) == ("length", 12)
    assert body_framing(
        _h(("content-length", "5, 5"), ("content-length", "05")), is_response=False
    ) == (
        "length",
        5,
    )
    chunked = _h(("transfer-encoding", "gzip"), ("transfer-encoding", "Chunked"))
    assert body_framing(chunked, is_response=False) == ("chunked", None)
    both = _h(("content-length", "3"), ("transfer-encoding", "chunked"))
    assert body_framing(both, is_response=False) == ("chunked", None)


@pytest.mark.parametrize(
    "headers",
    [
        _h(("content-length", "3"), ("content-length", "4")),
        _h(("content-length", "3, 4")),
        _h(("content-length", "-1")),
        _h(("content-length", "")),
        _h(("content-length", "0x10")),
        _h(("transfer-encoding", "gzip")),
        _h(("transfer-encoding", "chunked, gzip")),
        _h(("transfer-encoding", "chunked, chunked")),
    ],
)
def test_unusable_request_framing_is_a_protocol_error(headers: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(ProtocolError):
        body_framing(headers, is_response=False)


def test_response_framing() -> None:
    length = _h(("content-length", "7"))
    assert body_framing(length, is_response=True, status=200) == ("length", 7)
    assert body_framing([], is_response=True, status=200) == ("close", None)
    assert body_framing(_h(("transfer-encoding", "gzip")), is_response=True, status=200) == (
        "close",
        None,
    )
    assert body_framing(_h(("transfer-encoding", "chunked")), is_response=True, status=500) == (
        "chunked",
        None,
    )
    for status in (100, 101, 103, 204, 304):
        assert body_framing(length, is_response=True, status=status) == ("none", None)
    assert body_framing(length, is_response=True, status=200, request_method=b"HEAD") == (
        "none",
        None,
    )


def test_chunked_decoder_decodes_extensions_and_skips_trailers() -> None:
    decoder = ChunkedDecoder()
    wire = b"5;ext=1\r\nhello\r\nA \r\n, world!!!\r\n0\r\nX-Trailer: y\r\n\r\nGET / HTTP/1.1"
    assert b"".join(decoder.feed(wire)) == b"hello, world!!!"
    assert decoder.done
    assert decoder.rest == b"GET / HTTP/1.1"
    decoder.feed(b"\r\n")
    assert decoder.rest == b"GET / HTTP/1.1\r\n"


def test_chunked_decoder_is_not_done_before_the_last_blank_line() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"3\r\nabc\r\n0\r\n") == [b"abc"]
    assert not decoder.done
    assert decoder.feed(b"\r\n") == []
    assert decoder.done and decoder.rest == b""


@pytest.mark.parametrize(
    "wire",
    [
        b"x\r\n",
        b"\r\n",
        b"-1\r\n",
        b"3\r\nabcX\r\n",
        b"3\r\nabc\n0\r\n\r\n",
        b"11111111111111111\r\n",
        b"1" * 5000,
    ],
)
def test_malformed_chunked_bodies_are_protocol_errors(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(wire)


def _encode(pieces: list[bytes], trailers: bytes) -> bytes:
    return b"".join(encode_chunk(p) for p in pieces) + b"0\r\n" + trailers + b"\r\n"


@given(
    pieces=st.lists(st.binary(max_size=40), max_size=8),
    trailers=st.sampled_from([b"", b"a: b\r\n", b"a: b\r\nc-d: \r\n"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    tail=st.binary(max_size=10),
)
def test_chunked_bodies_decode_the_same_whatever_the_split(
    pieces: list[bytes], trailers: bytes, cuts: list[int], tail: bytes
) -> None:
    wire = _encode(pieces, trailers) + tail
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    decoder = ChunkedDecoder()
    out: list[bytes] = []
    for start, stop in pairwise(points):
        out += decoder.feed(wire[start:stop])
    assert b"".join(out) == b"".join(pieces)
    assert decoder.done
    assert decoder.rest == tail


def test_encode_chunk_and_last_chunk() -> None:
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert encode_chunk(b"") == b""
    assert LAST_CHUNK == b"0\r\n\r\n"


def test_encode_heads_round_trip() -> None:
    headers = [(b"host", b"a:1"), (b"x-dup", b"1"), (b"x-dup", b"2")]
    request = encode_request_head(b"POST", b"/v1/x", headers)
    assert request.endswith(b"\r\n\r\n")
    assert parse_request_head(request[:-4]) == (b"POST", b"/v1/x", b"HTTP/1.1", headers)
    response = encode_response_head(404, headers)
    assert response.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert parse_response_head(response[:-4]) == (404, b"Not Found", headers)
    assert encode_response_head(299, [], reason=b"Odd").startswith(b"HTTP/1.1 299 Odd\r\n")
    assert encode_response_head(200, []) == b"HTTP/1.1 200 OK\r\n\r\n"


def test_encode_refuses_line_breaks_in_headers() -> None:
    with pytest.raises(ProtocolError):
        encode_request_head(b"GET", b"/", [(b"x", b"a\r\nevil: 1")])
    with pytest.raises(ProtocolError):
        encode_response_head(200, [(b"x", b"a\nb")])
