"""Every codec carries a multi-turn conversation: render an IR request in its API, parse it back.

System prompt, user and assistant text, base64 images, tool definitions, tool calls (parsed
arguments) and tool results (paired with their call) survive each API's request form.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from cal.formats import API_FORMATS, ApiFormat
from cal.transform import RouteUnavailable, TranslationContext, load_codec
from cal.transform.common import raw
from cal.transform.ir import (
    Image,
    Message,
    Part,
    Request,
    Text,
    Tool,
    ToolCall,
    ToolResult,
)

TOOLS = ["get_weather", "read_file"]
texts = st.text(alphabet='abc xyz.é\n"', min_size=1, max_size=15)
args = st.dictionaries(st.sampled_from(["city", "path"]), texts | st.integers(0, 9), max_size=2)


@st.composite
def conversations(draw: st.DrawFn) -> Request:
    messages = [Message(role="system", content=[Text(text=draw(texts))])]
    n_call = 0
    for _ in range(draw(st.integers(1, 3))):
        user: list[Part] = [Text(text=draw(texts))]
        if draw(st.booleans()):
            user.append(Image(media_type="image/png", data="iVBORw0KGgo="))
        messages.append(Message(role="user", content=user))
        assistant: list[Part] = [Text(text=draw(texts))] if draw(st.booleans()) else []
        calls = draw(st.lists(st.tuples(st.sampled_from(TOOLS), args), max_size=2))
        for name, arguments in calls:
            n_call += 1
            assistant.append(
                ToolCall(id=f"call_{n_call}", name=name, arguments=json.dumps(arguments))
            )
        messages.append(Message(role="assistant", content=assistant or [Text(text="ok")]))
        if calls:
            results: list[Part] = [
                ToolResult(call_id=c.id, content=[Text(text=draw(texts))], name=c.name)
                for c in assistant
                if isinstance(c, ToolCall)
            ]
            messages.append(Message(role="tool", content=results))
    messages.append(Message(role="user", content=[Text(text=draw(texts))]))
    schema = raw({"type": "object", "properties": {"city": {"type": "string"}}})
    tools = [Tool(name=t, description=f"{t} tool", parameters=schema) for t in TOOLS]
    return Request(origin="openai-chat", model="m", messages=messages, tools=tools, max_tokens=100)


def summary(req: Request) -> dict[str, Any]:
    """What must survive, with call ids replaced by their order of appearance."""
    ids: dict[str, int] = {}
    seq: list[tuple[Any, ...]] = []
    system = ""
    for m in req.messages:
        for p in m.content:
            if m.role in ("system", "developer") and isinstance(p, Text):
                system += p.text
            elif isinstance(p, Text) and p.text:
                seq.append(("text", "assistant" if m.role == "assistant" else "user", p.text))
            elif isinstance(p, Image):
                seq.append(("image", p.media_type, p.data))
            elif isinstance(p, ToolCall):
                ids[p.id] = len(ids)
                seq.append(("call", ids[p.id], p.name, json.loads(p.arguments)))
            elif isinstance(p, ToolResult):
                text = "".join(t.text for t in p.content if isinstance(t, Text))
                seq.append(("result", ids.get(p.call_id, -1), text))
    return {"system": system, "seq": seq, "tools": sorted(t.name for t in req.tools)}


def _formats() -> list[ApiFormat]:
    out = []
    for fmt in API_FORMATS:
        try:
            load_codec(fmt)
        except RouteUnavailable:
            continue
        out.append(fmt)
    return out


@pytest.mark.parametrize("fmt", _formats())
@settings(max_examples=40, deadline=None)
@given(req=conversations())
def test_conversation_survives_the_api(fmt: ApiFormat, req: Request) -> None:
    codec = load_codec(fmt)
    ctx = TranslationContext(request_id="c", client_model="m", upstream_model="m")
    body = codec.render_request(req, ctx)
    back = codec.parse_request(body, ctx)
    got, want = summary(back), summary(req)
    assert got["system"] == want["system"]
    assert got["tools"] == want["tools"]
    # Gemini merges adjacent same-role text; compare text per role run joined
    assert _joined(got["seq"]) == _joined(want["seq"])


def _joined(seq: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for item in seq:
        if item[0] == "text" and out and out[-1][0] == "text" and out[-1][1] == item[1]:
            out[-1] = ("text", item[1], out[-1][2] + item[2])
        else:
            out.append(item)
    return out
