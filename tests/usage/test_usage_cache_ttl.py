"""Anthropic's 1-hour cache writes, read from the upstream's body or stream."""

from __future__ import annotations

from cal.usage.cache_ttl import one_hour_cache_writes

START = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"usage":{"input_tokens":10,'
    b'"cache_creation_input_tokens":3000,"cache_read_input_tokens":0,'
    b'"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},'
    b'"output_tokens":1}}}\n\n'
)
DELTA = b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":50}}\n\n'


def test_stream_events() -> None:
    assert one_hour_cache_writes([START, DELTA]) == 2000


def test_the_last_value_wins() -> None:
    later = b'data: {"usage":{"cache_creation":{"ephemeral_1h_input_tokens": 2500}}}\n\n'
    assert one_hour_cache_writes([START, DELTA, later]) == 2500


def test_a_body_without_the_split() -> None:
    assert one_hour_cache_writes([b'{"usage":{"cache_creation_input_tokens":5}}']) == 0
    assert one_hour_cache_writes([]) == 0
