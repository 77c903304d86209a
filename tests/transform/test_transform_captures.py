"""Claude Code's and Codex's real requests translate to every other upstream format, keeping the
system prompt, the tools and the messages (captures in ../shared/reference/captures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cal.formats import API_FORMATS, ApiFormat
from cal.transform import RouteUnavailable, TranslationContext, lookup

CAPTURES = Path("/work/shared/reference/captures")
CASES: list[tuple[str, ApiFormat]] = [
    ("claude-code-2.1.330_messages.json", "anthropic"),
    ("codex-0.169.0_responses_http.json", "openai-responses"),
]


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value (keys included), recursively."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _expectations(body: dict[str, Any], fmt: ApiFormat) -> tuple[list[str], list[str], list[str]]:
    """(instruction texts, tool names, user texts) the client sent."""
    if fmt == "anthropic":
        system = [b["text"] for b in body["system"]]
        tools = [t["name"] for t in body["tools"]]
        users = [
            b["text"]
            for m in body["messages"]
            if m["role"] in ("user", "system")
            for b in m["content"]
            if b.get("type") == "text"
        ]
        return system, tools, users
    items = body["input"]
    system = [
        p["text"]
        for i in items
        if i.get("role") == "developer" and "content" in i
        for p in i["content"]
    ]
    tools = [
        t["name"]
        for i in items
        if i.get("type") == "additional_tools"
        for ns in i["tools"]
        for t in ns.get("tools", [ns])
    ]
    users = [p["text"] for i in items if i.get("role") == "user" for p in i["content"]]
    return system, tools, users


def _cases() -> list[tuple[str, ApiFormat, ApiFormat]]:
    if not CAPTURES.is_dir():
        return []
    return [(f, c, u) for f, c in CASES for u in API_FORMATS if u != c]


@pytest.mark.parametrize(("capture", "client", "upstream"), _cases())
def test_capture_translates(capture: str, client: ApiFormat, upstream: ApiFormat) -> None:
    try:
        route = lookup(client, upstream)
    except RouteUnavailable as exc:
        pytest.skip(str(exc))
    body = json.loads((CAPTURES / capture).read_text())["body"]
    ctx = TranslationContext(
        request_id="cap", client_model=body["model"], upstream_model="target-model", stream=True
    )
    out = json.loads(route.translate_request(json.dumps(body).encode(), ctx))
    blob = "\n".join(_strings(out))
    system, tools, users = _expectations(body, client)
    assert system and tools and users
    for text in system + users:
        assert text in blob, f"lost: {text[:80]!r}"
    for name in tools:
        assert name in blob, f"lost tool {name!r}"
    assert "target-model" in blob or upstream == "gemini"


@pytest.mark.skipif(not CAPTURES.is_dir(), reason="captures not present")
def test_claude_code_system_message_position_kept_for_chat() -> None:
    body = json.loads((CAPTURES / CASES[0][0]).read_text())["body"]
    route = lookup("anthropic", "openai-chat")
    ctx = TranslationContext(request_id="c", client_model=body["model"], upstream_model="m")
    out = json.loads(route.translate_request(json.dumps(body).encode(), ctx))
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["system", "user", "system"]
    assert out["reasoning_effort"] == "medium"
    assert out["stream_options"] == {"include_usage": True}
