"""Sealed reasoning is removed before a same-format pass-through; other bodies are untouched."""

from __future__ import annotations

import json

from cal.transform.ir import Thinking, seal
from cal.transform.passthrough import GEMINI_SKIP_SIGNATURE, strip_envelopes

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
