"""The Route's memo: repeated tool lists translate to the same bytes, notes and aliases as a
fresh parse; the memo is bounded and only hits on identical bytes."""

from __future__ import annotations

import msgspec

from cal.transform import TranslationContext, lookup
from cal.transform.memo import Memo

_TOOLS = [
    {"name": "Bash", "description": "run", "input_schema": {"type": "object", "x": 1.50}},
    {"type": "web_search_20250305", "name": "web"},
    {"name": "ns.tool", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
]


def _ctx() -> TranslationContext:
    return TranslationContext(request_id="r", client_model="", upstream_model="m")


def _translate(
    client: str, upstream: str, body: dict[str, object], memo: bool
) -> tuple[object, ...]:
    route = lookup(client, upstream)  # type: ignore[arg-type]
    ctx = _ctx()
    raw = msgspec.json.encode(body)
    if memo:
        out = route.translate_request(raw, ctx)
    else:
        request = route.client.parse_request(raw, ctx)  # no Route bind: no memo
        ctx.client_model = request.model
        request.model = ctx.upstream_model
        out = route.upstream.render_request(request, ctx)
    return out, ctx.notes, ctx.tool_aliases


def test_anthropic_tools_memoized_match_fresh() -> None:
    body = {
        "model": "c",
        "max_tokens": 5,
        "tools": _TOOLS,
        "messages": [{"role": "user", "content": "hi"}],
    }
    for upstream in ("openai-chat", "openai-responses", "gemini"):
        fresh = _translate("anthropic", upstream, body, memo=False)
        for _ in range(3):  # a miss, then hits (parse and rendering)
            assert _translate("anthropic", upstream, body, memo=True) == fresh


def test_responses_additional_tools_memoized_match_fresh() -> None:
    tools = [
        {"type": "function", "name": "shell", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "mcp", "tools": [{"type": "function", "name": "read"}]},
        {"type": "web_search"},
    ]
    body = {
        "model": "g",
        "input": [
            {"type": "additional_tools", "role": "developer", "tools": tools},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        ],
        "store": False,
        "prompt_cache_key": "k",
    }
    for upstream in ("anthropic", "openai-chat", "gemini"):
        fresh = _translate("openai-responses", upstream, body, memo=False)
        for _ in range(3):
            assert _translate("openai-responses", upstream, body, memo=True) == fresh


def test_memo_is_bounded_and_exact() -> None:
    memo = Memo(size=2)
    a, b = b"[" + b"1," * 100 + b"1]", b"[" + b"1," * 49 + b"2," + b"1," * 50 + b"1]"
    memo.keep_parsed("t", a, "A")
    assert memo.parsed("t", a) == "A"
    assert memo.parsed("t", b) is None  # same size and samples, other bytes
    memo.keep_parsed("t", b"x", "X")
    memo.keep_parsed("t", b"y", "Y")
    assert len(memo) == 2
    assert memo.parsed("t", a) is None
