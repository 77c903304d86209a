"""The SSE codec: same events however the bytes are split; spec line endings; bounds."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from cal.sse import SSEDecoder, SSEError, SSEEvent, SSEFramer, encode_event, parse_event

STREAM = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b": keep-alive comment\n\n"
    b"data: line one\r\ndata: line two\r\n\r\n"
    b"event: ping\rdata: {}\r\r"
    b'id: 7\nretry: 1500\ndata: {"x":"\xc3\xa9"}\n\n'
    b"data: [DONE]\n\n"
)


def _decode_all(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.close()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_whole_stream() -> None:
    events = _decode_all([STREAM])
    assert [(e.event, e.data) for e in events] == [
        ("message_start", b'{"type":"message_start"}'),
        (None, b"line one\nline two"),
        ("ping", b"{}"),
        (None, b'{"x":"\xc3\xa9"}'),
        (None, b"[DONE]"),
    ]
    assert events[3].id == "7" and events[3].retry == 1500
    assert events[0].raw == b'event: message_start\ndata: {"type":"message_start"}\n\n'


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_gives_the_same_events(cuts: list[int]) -> None:
    assert _decode_all(_split(STREAM, cuts)) == _decode_all([STREAM])


def test_byte_by_byte() -> None:
    assert _decode_all([bytes([b]) for b in STREAM]) == _decode_all([STREAM])


def test_unterminated_last_event_is_dispatched_on_close() -> None:
    events = _decode_all([b"data: a\n\ndata: tail"])
    assert [e.data for e in events] == [b"a", b"tail"]


def test_event_without_data_is_not_dispatched() -> None:
    assert _decode_all([b"event: lonely\n\ndata: x\n\n"])[0].event is None


def test_oversized_event_is_refused() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(SSEError):
        decoder.feed(b"data: " + b"x" * 100)


@given(st.binary(max_size=200).filter(lambda b: b"\r" not in b), st.text(max_size=10))
def test_encode_then_decode_round_trips(data: bytes, name: str) -> None:
    name = "".join(c for c in name if c not in "\r\n") or None  # type: ignore[assignment]
    events = _decode_all([encode_event(data, name)])
    assert len(events) == 1
    assert events[0].data == data
    assert events[0].event == name


_PIECES = st.sampled_from(
    [
        *(b"data", b"data:", b"data: x", b"data:y", b"event: e", b": c", b"id: 1", b"retry: 5"),
        *(b"\n", b"\r", b"\r\n", b"\n\n", b"dat", b"database: 1", b"x", b":", b" "),
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PIECES, max_size=30), st.lists(st.integers(min_value=0), max_size=8))
def test_any_stream_any_split_matches_byte_by_byte(pieces: list[bytes], cuts: list[int]) -> None:
    """Whole chunks take the fast path, single bytes the line-by-line one: same events."""
    stream = b"".join(pieces)
    expected = _decode_all([bytes([b]) for b in stream])
    assert _decode_all(_split(stream, cuts)) == expected
    framer = SSEFramer()
    raws = [raw for chunk in _split(stream, cuts) for raw in framer.feed(chunk)] + framer.close()
    assert raws == [e.raw for e in expected]
    assert [parse_event(raw) for raw in raws] == expected


def test_framer_returns_whole_events_untouched() -> None:
    framer = SSEFramer()
    one = b'event: content_block_delta\ndata: {"type":"content_block_delta"}\n\n'
    assert framer.feed(one) == [one]
    assert framer.feed(b": ping\n\n" + one + b"\n" + one[:9]) == [one]
    assert framer.feed(one[9:]) == [one]
    assert framer.close() == []


def test_parse_event_reads_each_shape() -> None:
    assert parse_event(b"data: [DONE]\n\n") == SSEEvent(b"[DONE]", raw=b"data: [DONE]\n\n")
    named = b"event: ping\ndata: {}\n\n"
    assert parse_event(named) == SSEEvent(b"{}", "ping", raw=named)
    assert parse_event(b"event:  two spaces\ndata:x\n\n") == SSEEvent(
        b"x", " two spaces", raw=b"event:  two spaces\ndata:x\n\n"
    )
    assert parse_event(b"data: a\r\ndata: b\r\n\r\n") == SSEEvent(
        b"a\nb", raw=b"data: a\r\ndata: b\r\n\r\n"
    )
    assert parse_event(b": comment only\n\n") is None
