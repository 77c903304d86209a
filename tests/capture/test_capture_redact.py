"""Redaction: credentials become hints in headers, queries, URLs, text and bodies."""

from __future__ import annotations

import msgspec
import pytest
from capture_samples import ANTHROPIC_KEY, CODEX_JWT, GEMINI_KEY, OAUTH_TOKEN, OPENAI_KEY
from hypothesis import given, settings, strategies as st

from cal.capture import redact
from cal.capture.redact import (
    contains_secret,
    hint,
    redact_bytes,
    redact_headers,
    redact_query,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize(
    ("secret", "prefix"),
    [
        (ANTHROPIC_KEY, "sk-ant-api03-..."),
        (OPENAI_KEY, "sk-proj-..."),
        (OAUTH_TOKEN, "sk-ant-oat01-..."),
        (GEMINI_KEY, "AIza..."),
        (CODEX_JWT, "eyJ..."),
    ],
)
def test_known_key_shapes_keep_only_their_public_prefix(secret: str, prefix: str) -> None:
    shown = redact_text(f"key: {secret} end")
    assert secret not in shown
    assert f"key: {prefix}[REDACTED len={len(secret)} sha256=" in shown
    assert shown.endswith("] end")


def test_hint_tells_keys_apart_without_showing_them() -> None:
    other = ANTHROPIC_KEY[:-1] + "Z"
    assert hint(ANTHROPIC_KEY) != hint(other)
    assert ANTHROPIC_KEY[13:30] not in hint(ANTHROPIC_KEY)


def test_redaction_is_idempotent() -> None:
    once = redact_text(f"Bearer {OAUTH_TOKEN} and {OPENAI_KEY}")
    assert redact_text(once) == once


def test_secret_headers_are_hinted_and_others_kept() -> None:
    headers = [
        ("x-api-key", "short-key"),
        ("Authorization", f"Bearer {CODEX_JWT}"),
        ("cookie", "a=b; session=0123456789abcdef0123"),
        ("x-goog-api-key", GEMINI_KEY),
        ("proxy-authorization", "Basic dXNlcjpwYXNzd29yZA=="),
        ("x-custom-access-token", "tok-0123456789abcdef"),
        ("user-agent", "claude-cli/2.1.330"),
        ("user-agent", "second value kept"),
    ]
    out = redact_headers(headers)
    assert [k for k, _ in out] == [k for k, _ in headers]
    assert out[0][1] == "...[REDACTED len=9]"
    assert out[1][1].startswith("Bearer eyJ...[REDACTED")
    assert "session" not in out[2][1]
    assert GEMINI_KEY not in out[3][1]
    assert out[4][1].startswith("Basic ") and "dXNlcjpw" not in out[4][1]
    assert "0123456789abcdef" not in out[5][1]
    assert out[6:] == headers[6:]


def test_query_and_url_credentials_are_hinted() -> None:
    assert redact_query("alt=sse&key=" + GEMINI_KEY) == "alt=sse&key=" + hint(GEMINI_KEY)
    assert redact_query("") == ""
    url = "https://user:pa55word@host.test/v1beta/m:go?alt=sse&access_token=abc123#frag"
    shown = redact_url(url)
    assert "pa55word" not in shown and "abc123" not in shown
    assert shown.startswith("https://user:...[REDACTED len=8]@host.test/v1beta/m:go?alt=sse&")
    assert shown.endswith("#frag")


def test_bodies_stay_valid_json_after_redaction() -> None:
    body = msgspec.json.encode(
        {"messages": [{"content": f"use {OPENAI_KEY} or Bearer {OAUTH_TOKEN}"}]}
    )
    clean = redact_bytes(body)
    assert contains_secret(body) and not contains_secret(clean)
    text = msgspec.json.decode(clean)["messages"][0]["content"]
    assert OPENAI_KEY not in text and OAUTH_TOKEN not in text
    assert redact_bytes(b'{"model":"gpt-6","short":"sk-1"}') == b'{"model":"gpt-6","short":"sk-1"}'


def test_ordinary_words_are_not_taken_for_keys() -> None:
    text = "call ask-user-question-tool-handler, then task-management-feature-flag-enabled; unbearer abcdefghijklmnopqrstuvwxyz"
    assert redact_text(text) == text
    encoded = f"u%3Fkey%3D{GEMINI_KEY}"
    assert GEMINI_KEY not in redact_text(encoded)


def each_shape_in_turn(data: bytes) -> bytes:
    """What body redaction is defined as: every shape's `re.sub` over the whole data, in order."""
    for shape in redact._SHAPES:
        data = shape.pattern.sub(shape.replace, data)
    return data


_PIECES = st.sampled_from(
    [
        *(s.encode() for s in (ANTHROPIC_KEY, OPENAI_KEY, OAUTH_TOKEN, GEMINI_KEY, CODEX_JWT)),
        *(b"bearer ", b"Bearer ", b"BEARER\t", b"bEaReR\n ", b"Bearer", b"unbearer "),
        *(b"sk-", b"sk-ant-api03-", b"sk-proj-", b"sk-None-", b"ask-", b"AIza", b"ya29.", b"eyJ"),
        *(b"-", b"b", b"B", b"z", b"9", b"J", b".", b"=", b"_", b" ", b"\n", b'"', b"%3D", b"\\n"),
        b"-" * 90,  # rare bytes made common: the literal itself is sought from there on
        b"b" * 90,
        b"bB" * 50,
        b"z-9J" * 40,
    ]
)
_RUNS = st.text("ABCDEFabcdef0123456789_-.", max_size=40).map(str.encode)


@settings(max_examples=600)
@given(st.lists(st.one_of(_PIECES, _RUNS, st.binary(max_size=3)), max_size=60).map(b"".join))
def test_body_redaction_is_each_shape_substituted_in_turn(data: bytes) -> None:
    assert redact_bytes(data) == each_shape_in_turn(data)
    searched = any(shape.pattern.search(data) for shape in redact._SHAPES)
    assert contains_secret(data) == searched


def test_a_long_body_with_common_rare_bytes_is_redacted_like_a_short_one() -> None:
    filler = b"b-B9zJ task- " * 3000  # every rare byte, and `sk-`, far past their budgets
    data = filler + f"Bearer {OAUTH_TOKEN} {OPENAI_KEY} key={GEMINI_KEY} {CODEX_JWT} ".encode()
    clean = redact_bytes(data + filler)
    assert clean == each_shape_in_turn(data + filler)
    assert clean.startswith(filler) and clean.endswith(filler)
    assert not contains_secret(clean) and contains_secret(data)
    for secret in (OAUTH_TOKEN, OPENAI_KEY, GEMINI_KEY, CODEX_JWT):
        assert secret.encode() not in clean
