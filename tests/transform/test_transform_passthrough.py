"""Sealed reasoning is removed before a same-format pass-through; other bodies are untouched."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings, strategies as st

from cal.transform.ir import Thinking, seal
from cal.transform.passthrough import (
    GEMINI_SKIP_SIGNATURE,
    UnsealedAnthropicMessage,
    strip_envelopes,
)

SEALED = seal(Thinking(text="t", signature="blob", origin="openai-responses"))


def test_plain_bodies_are_left_alone() -> None:
    body = b'{"messages":[{"role":"user","content":"gw1. is just text here"}]}'
    assert strip_envelopes("anthropic", body) is None
    assert strip_envelopes("openai-chat", b'{"x":"gw1.y"}') is None


def test_anthropic_sealed_thinking_is_dropped() -> None:
    own = {"type": "thinking", "thinking": "mine", "signature": "EqQB"}
    foreign = {"type": "thinking", "thinking": "t", "signature": SEALED}
    call = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    body = {"x_unknown": 1, "messages": [{"role": "assistant", "content": [own, foreign, call]}]}
    out = strip_envelopes("anthropic", json.dumps(body).encode())
    assert out is not None
    doc, changed = json.loads(out[0]), out[1]
    assert changed == 1
    assert doc["messages"][0]["content"] == [own, call]
    assert doc["x_unknown"] == 1


def test_responses_sealed_reasoning_items_are_dropped() -> None:
    item = {"type": "reasoning", "summary": [], "encrypted_content": SEALED}
    msg = {"type": "message", "role": "user", "content": "hi"}
    out = strip_envelopes("openai-responses", json.dumps({"input": [item, msg]}).encode())
    assert out is not None and json.loads(out[0])["input"] == [msg]


def test_gemini_sealed_signatures_become_the_placeholder_on_calls() -> None:
    parts = [
        {"thoughtSignature": SEALED, "functionCall": {"name": "f", "args": {}}},
        {"thoughtSignature": SEALED, "text": ""},
        {"thoughtSignature": SEALED, "text": "kept"},
    ]
    out = strip_envelopes(
        "gemini", json.dumps({"contents": [{"role": "model", "parts": parts}]}).encode()
    )
    assert out is not None
    got = json.loads(out[0])["contents"][0]["parts"]
    assert got == [
        {"thoughtSignature": GEMINI_SKIP_SIGNATURE, "functionCall": {"name": "f", "args": {}}},
        {"text": "kept"},
    ]


_STRINGS = st.sampled_from([SEALED, "gw1.", "gw1", "xgw1.", "EqQB", " gw1.x", ""])
_VALUES = st.one_of(
    _STRINGS,
    st.none(),
    st.integers(),
    st.text(max_size=8),
    st.dictionaries(st.sampled_from(["a", "data"]), _STRINGS, max_size=2),
)
_BLOCKS = st.dictionaries(st.sampled_from(["type", "signature", "data", "text"]), _VALUES)
_MESSAGES = st.lists(
    st.one_of(
        st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=8)}),
        st.fixed_dictionaries({"role": st.just("assistant"), "content": st.lists(_BLOCKS)}),
        st.dictionaries(st.just("content"), _VALUES),
        _VALUES,
    ),
    max_size=4,
)


@settings(max_examples=400)
@given(messages=st.one_of(_MESSAGES, _VALUES), model=st.one_of(st.none(), st.just("m")))
def test_a_body_the_typed_view_calls_unsealed_never_needs_stripping(
    messages: object, model: str | None
) -> None:
    """The gateway skips `strip_envelopes` for an Anthropic body whose messages decode as
    UnsealedAnthropicMessage (it learns that in the pass that reads the model): sound only if
    `strip_envelopes` would have left every such body alone."""
    body = json.dumps({"model": model, "messages": messages}).encode()
    try:
        msgspec.json.decode(body, type=_View)
    except msgspec.ValidationError:
        return  # not proven unsealed: the gateway runs strip_envelopes as before
    assert strip_envelopes("anthropic", body) is None


class _View(msgspec.Struct):
    messages: list[UnsealedAnthropicMessage] = []


def test_a_sealed_block_fails_the_typed_view() -> None:
    for block in ({"type": "thinking", "signature": SEALED}, {"data": SEALED}):
        body = json.dumps({"messages": [{"role": "assistant", "content": [block]}]}).encode()
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(body, type=_View)
