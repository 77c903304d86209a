"""Prompt extraction by role for the four API formats, with numbered variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from cal.capture.prompts import Prompt, extract_prompts, normalise_role

CAPTURES = Path("/work/shared/reference/captures")


def _roles(prompts: list[Prompt]) -> list[tuple[str, int, str]]:
    return [(p.role, p.index, p.file_name) for p in prompts]


def _body(value: dict[str, Any]) -> bytes:
    return msgspec.json.encode(value)


def test_anthropic_system_messages_tool_results_and_mid_conversation_system() -> None:
    body = _body(
        {
            "system": [{"type": "text", "text": "sys A"}, {"type": "text", "text": "sys B"}],
            "messages": [
                {"role": "user", "content": "first question"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "", "signature": "x"},
                        {"type": "text", "text": "let me look"},
                        {"type": "tool_use", "id": "t1", "name": "Read", "input": {"p": "a"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "file text"},
                        {"type": "text", "text": "thanks"},
                        {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                    ],
                },
                {"role": "system", "content": [{"type": "text", "text": "env info"}]},
            ],
        }
    )
    prompts = extract_prompts("anthropic", body)
    assert _roles(prompts) == [
        ("system", 1, "prompt.system.txt"),
        ("user", 1, "prompt.user.txt"),
        ("assistant", 1, "prompt.assistant.txt"),
        ("tool", 1, "prompt.tool.txt"),
        ("user", 2, "prompt.user.2.txt"),
        ("system", 2, "prompt.system.2.txt"),
    ]
    assert prompts[0].text == "sys A\nsys B"
    assert prompts[2].text == 'let me look\n[tool_call Read] {"p":"a"}'
    assert prompts[3].text == "file text"
    assert prompts[4].text == "thanks"


def test_chat_roles_including_developer_and_tool() -> None:
    body = _body(
        {
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "system", "content": [{"type": "text", "text": "sys"}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "x"}},
                    ],
                },
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "ls", "arguments": '{"d":"."}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
                {"role": "user", "content": "again"},
            ]
        }
    )
    prompts = extract_prompts("openai-chat", body)
    assert _roles(prompts) == [
        ("developer", 1, "prompt.developer.txt"),
        ("system", 1, "prompt.system.txt"),
        ("user", 1, "prompt.user.txt"),
        ("assistant", 1, "prompt.assistant.txt"),
        ("tool", 1, "prompt.tool.txt"),
        ("user", 2, "prompt.user.2.txt"),
    ]
    assert prompts[3].text == '[tool_call ls] {"d":"."}'


def test_responses_instructions_items_and_string_input() -> None:
    body = _body(
        {
            "instructions": "you are codex",
            "input": [
                {"type": "additional_tools", "role": "developer", "tools": []},
                {
                    "type": "message",
                    "role": "developer",
                    "content": [{"type": "input_text", "text": "dev rules"}],
                },
                {"role": "user", "content": "plain easy message"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c", "name": "exec", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "done"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok", "annotations": []}],
                },
            ],
        }
    )
    assert _roles(extract_prompts("openai-responses", body)) == [
        ("system", 1, "prompt.system.txt"),
        ("developer", 1, "prompt.developer.txt"),
        ("user", 1, "prompt.user.txt"),
        ("assistant", 1, "prompt.assistant.txt"),
        ("tool", 1, "prompt.tool.txt"),
        ("assistant", 2, "prompt.assistant.2.txt"),
    ]
    simple = extract_prompts("openai-responses", _body({"input": "just text"}))
    assert [(p.role, p.text) for p in simple] == [("user", "just text")]


def test_gemini_system_instruction_contents_and_function_parts() -> None:
    body = _body(
        {
            "systemInstruction": {"parts": [{"text": "be helpful"}]},
            "contents": [
                {"role": "user", "parts": [{"text": "weather?"}]},
                {
                    "role": "model",
                    "parts": [
                        {"text": "thinking", "thought": True},
                        {"functionCall": {"name": "wx", "args": {"c": "P"}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "wx", "response": {"output": "sun"}}}],
                },
            ],
        }
    )
    prompts = extract_prompts("gemini", body)
    assert [(p.role, p.text) for p in prompts] == [
        ("system", "be helpful"),
        ("user", "weather?"),
        ("assistant", '[tool_call wx] {"c":"P"}'),
        ("tool", '{"output":"sun"}'),
    ]


@pytest.mark.parametrize(
    ("name", "fmt", "roles"),
    [
        ("claude-code-2.1.330_messages.json", "anthropic", ["system", "user", "system"]),
        (
            "codex-0.169.0_responses_http.json",
            "openai-responses",
            ["developer"] * 4 + ["user", "user"],
        ),
    ],
)
def test_real_client_captures(name: str, fmt: str, roles: list[str]) -> None:
    if not (CAPTURES / name).exists():
        pytest.skip("reference captures not available")
    capture = msgspec.json.decode((CAPTURES / name).read_bytes())
    prompts = extract_prompts(fmt, msgspec.json.encode(capture["body"]))
    assert [p.role for p in prompts] == roles
    assert prompts[-1].text.strip() == "hi" or "hi" in prompts[-1].text


def test_bad_bodies_and_roles() -> None:
    assert extract_prompts("anthropic", b"not json") == []
    assert extract_prompts("openai-chat", b"[1, 2]") == []
    assert (
        extract_prompts("anthropic", _body({"messages": [{"role": "user", "content": "  "}]})) == []
    )
    assert normalise_role("Model") == "assistant"
    assert normalise_role("../x/y") == "x_y"
    assert normalise_role("") == "unknown"
    guessed = extract_prompts(
        "unknown-format", _body({"messages": [{"role": "user", "content": "q"}]})
    )
    assert [(p.role, p.text) for p in guessed] == [("user", "q")]
