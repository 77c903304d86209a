"""Local token estimates: text bytes at a ratio, embedded blobs at a fixed allowance, rounded up."""

from __future__ import annotations

import base64
import re

import msgspec
from hypothesis import given, settings, strategies as st

from cal.usage.estimate import (
    BLOB_TOKENS,
    BodyMeasure,
    count_response_body,
    counted_tokens,
    estimate_input_tokens,
    measure_body,
    tokens_for,
)


def test_plain_text_body() -> None:
    payload = b'{"messages":[{"role":"user","content":"' + b"y" * 3_557 + b'"}]}'
    assert len(payload) == 3_600
    assert measure_body(payload) == BodyMeasure(3_600, 0)
    assert estimate_input_tokens(payload) == 1_000  # 3,600 / 3.6
    assert estimate_input_tokens(payload, 0.5) == 1_800


def test_rounds_up_and_never_says_zero() -> None:
    assert estimate_input_tokens(b"") == 1
    assert estimate_input_tokens(b"{}") == 1
    assert tokens_for(BodyMeasure(37, 0)) == 11  # 37 / 3.6 = 10.3 -> 11


def test_embedded_images_count_as_an_allowance_not_their_bytes() -> None:
    png = base64.b64encode(bytes(range(256)) * 400)  # ~136 kB of base64
    anthropic = (
        b'{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64",'
        b'"media_type":"image/png","data":"' + png + b'"}},{"type":"text","text":"what is it"}]}]}'
    )
    measure = measure_body(anthropic)
    assert measure.blobs == 1
    assert measure.text_bytes == len(anthropic) - len(png)
    estimate = estimate_input_tokens(anthropic)
    assert BLOB_TOKENS < estimate < BLOB_TOKENS + 100
    openai = b'{"input":[{"type":"input_image","image_url":"data:image/png;base64,' + png + b'"}]}'
    assert measure_body(openai).blobs == 1
    gemini = b'{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"' + png
    gemini += b'"}},{"inlineData":{"mimeType":"image/png","data":"' + png + b'"}}]}]}'
    assert measure_body(gemini).blobs == 2


def test_short_data_fields_are_text() -> None:
    payload = b'{"data":"c2hvcnQ="}'
    assert measure_body(payload) == BodyMeasure(len(payload), 0)


def test_count_answers_in_each_clients_shape() -> None:
    assert msgspec.json.decode(count_response_body("anthropic", 42)) == {"input_tokens": 42}
    assert msgspec.json.decode(count_response_body("gemini", 42)) == {"totalTokens": 42}
    assert msgspec.json.decode(count_response_body("openai-responses", 42)) == {
        "object": "response.input_tokens",
        "input_tokens": 42,
    }


def test_counted_tokens_reads_the_upstreams_answers() -> None:
    assert counted_tokens(b'{"input_tokens": 1234}') == 1234
    assert counted_tokens(b'{"object":"response.input_tokens","input_tokens":7}') == 7
    assert counted_tokens(b'{"totalTokens": 99, "cachedContentTokenCount": 3}') == 99
    for junk in (None, b"", b"not json", b"[]", b'{"error": {}}', b'{"input_tokens": -1}'):
        assert counted_tokens(junk) is None
    for fmt in ("anthropic", "openai-responses", "gemini"):
        assert counted_tokens(count_response_body(fmt, 5)) == 5


_BLOB_DEFINITION = re.compile(
    rb'(?:"(?:data|bytes)"\s*:\s*"|data:[\w.+-]+/[\w.+-]+;base64,)([A-Za-z0-9+/=\\]{512,})'
)
"""What a blob is, read the slow way: every match of this, left to right."""
_BODY_PIECES = st.one_of(
    st.sampled_from(
        [
            *(b'"data":"', b'"data" : "', b'"bytes":"', b'"text":"', b'"data"', b"data:"),
            *(b"data:image/png;base64,", b"data:application/pdf;base64,"),
            *(b'"', b",", b" ", b":", b"\\/"),
        ]
    ),
    st.builds(
        lambda chars, count: chars * count,
        st.sampled_from([b"A", b"x", b"Qz", b"ab+/", b"9=", b"a b"]),
        st.integers(1, 700),
    ),
    st.binary(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_BODY_PIECES, max_size=25))
def test_sampled_measure_finds_every_blob_the_definition_does(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    matches = list(_BLOB_DEFINITION.finditer(body))
    blob_bytes = sum(len(m.group(1)) for m in matches)
    assert measure_body(body) == BodyMeasure(len(body) - blob_bytes, len(matches))
