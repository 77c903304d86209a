"""Prompt extraction by role from a request body of any of the four API formats (pure).

Roles are `system`, `developer`, `user`, `assistant` and `tool` (plus any other role a body
names, lower-cased). Each message (or instruction block) becomes one Prompt, in request order.
File names: the first prompt of a role is `prompt.{role}.txt`, the n-th (n >= 2) is
`prompt.{role}.{n}.txt`; so a conversation with three user turns gives `prompt.user.txt`,
`prompt.user.2.txt` and `prompt.user.3.txt`. Tool calls an assistant made are written as
`[tool_call NAME] ARGUMENTS` lines; images, files and reasoning blobs are skipped.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

_ROLE_UNSAFE = re.compile(r"[^a-z0-9_-]+")
_ROLE_ALIASES = {"model": "assistant", "function": "tool"}


class Prompt(msgspec.Struct, frozen=True):
    """One extracted prompt: its role, its 1-based number within the role, and its text."""

    role: str
    index: int
    text: str

    @property
    def file_name(self) -> str:
        """`prompt.{role}.txt` for the first of a role, `prompt.{role}.{n}.txt` after."""
        if self.index == 1:
            return f"prompt.{self.role}.txt"
        return f"prompt.{self.role}.{self.index}.txt"


def normalise_role(role: object) -> str:
    """Lower-case, `model`→`assistant`, `function`→`tool`, unsafe characters → `_`."""
    text = str(role or "").strip().lower()
    text = _ROLE_ALIASES.get(text, text)
    text = _ROLE_UNSAFE.sub("_", text).strip("_.")
    return text[:40] or "unknown"


def extract_prompts(fmt: str, body: bytes) -> list[Prompt]:
    """The prompts of a request body of format `fmt` (empty when it is not a JSON object)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []
    if not isinstance(data, dict):
        return []
    pairs = _pairs(fmt, data)
    return number_prompts((role, text) for role, text in pairs if text.strip())


def _pairs(fmt: str, data: dict[str, Any]) -> list[tuple[str, str]]:
    if fmt == "anthropic":
        return _anthropic(data)
    if fmt == "openai-chat":
        return _chat(data)
    if fmt == "openai-responses":
        return _responses(data)
    if fmt == "gemini":
        return _gemini(data)
    for guess in (_anthropic, _chat, _responses, _gemini):
        if found := guess(data):
            return found
    return []


def number_prompts(pairs: Any) -> list[Prompt]:
    """Number (role, text) pairs within their role, in order."""
    counts: dict[str, int] = {}
    out: list[Prompt] = []
    for role, text in pairs:
        name = normalise_role(role)
        counts[name] = counts.get(name, 0) + 1
        out.append(Prompt(name, counts[name], text))
    return out


# -- Anthropic Messages: `system` + `messages` (roles user/assistant/system) ---------------------


def _anthropic(data: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if "system" in data:
        out.append(("system", _text_of(data["system"])))
    for message in _list(data.get("messages")):
        if not isinstance(message, dict):
            continue
        role = str(message.get("role") or "unknown")
        content = message.get("content")
        if isinstance(content, list) and role == "user":
            results = [b for b in content if _kind(b) == "tool_result"]
            others = [b for b in content if _kind(b) != "tool_result"]
            out.extend(("tool", _text_of(b.get("content"))) for b in results)
            out.append((role, _text_of(others)))
        else:
            out.append((role, _text_of(content)))
    return out


# -- OpenAI Chat: `messages` -------------------------------------------------------------------


def _chat(data: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for message in _list(data.get("messages")):
        if not isinstance(message, dict):
            continue
        text = _text_of(message.get("content"))
        calls = [
            _call_line(c.get("function") or c.get("custom") or {}, "arguments")
            for c in _list(message.get("tool_calls"))
            if isinstance(c, dict)
        ]
        out.append((str(message.get("role") or "unknown"), _join([text, *calls])))
    return out


# -- OpenAI Responses: `instructions` + `input` (str or items) ---------------------------------


def _responses(data: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(data.get("instructions"), str):
        out.append(("system", data["instructions"]))
    source = data.get("input")
    if isinstance(source, str):
        out.append(("user", source))
        return out
    for item in _list(source):
        if isinstance(item, dict) and (pair := _responses_item(item)) is not None:
            out.append(pair)
    return out


def _responses_item(item: dict[str, Any]) -> tuple[str, str] | None:
    kind = item.get("type", "message")
    if kind == "message":
        return str(item.get("role") or "unknown"), _text_of(item.get("content"))
    if kind in ("function_call", "custom_tool_call"):
        return "assistant", _call_line(item, "arguments" if kind == "function_call" else "input")
    if isinstance(kind, str) and kind.endswith("_output") and "output" in item:
        return "tool", _text_of(item["output"])
    return None


# -- Gemini: `systemInstruction` + `contents` (roles user/model) -------------------------------


def _gemini(data: dict[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    system = data.get("systemInstruction") or data.get("system_instruction")
    if isinstance(system, dict):
        out.append(("system", _gemini_parts(system.get("parts"))[0]))
    elif isinstance(system, str):
        out.append(("system", system))
    for content in _list(data.get("contents")):
        if not isinstance(content, dict):
            continue
        text, responses = _gemini_parts(content.get("parts"))
        out.extend(("tool", r) for r in responses)
        out.append((str(content.get("role") or "user"), text))
    return out


def _gemini_parts(parts: object) -> tuple[str, list[str]]:
    lines: list[str] = []
    responses: list[str] = []
    for part in _list(parts):
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str) and not part.get("thought"):
            lines.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            lines.append(_call_line(part["functionCall"], "args"))
        elif isinstance(part.get("functionResponse"), dict):
            response = part["functionResponse"]
            responses.append(_compact(response.get("response")))
    return _join(lines), responses


# -- shared helpers ----------------------------------------------------------------------------

_TEXT_KEYS = ("text", "input_text", "output_text", "refusal")


def _text_of(value: object) -> str:
    """Text of a string, a list of blocks/parts, or one block; non-text blocks skipped."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return _join([_text_of(item) for item in value])
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("tool_use", "server_tool_use"):
            return _call_line(value, "input")
        if kind == "tool_result":
            return _text_of(value.get("content"))
        for key in _TEXT_KEYS:
            if isinstance(value.get(key), str):
                return str(value[key])
        if isinstance(value.get("content"), str | list):
            return _text_of(value["content"])
    return ""


def _call_line(call: dict[str, Any], args_key: str) -> str:
    args = call.get(args_key)
    shown = args if isinstance(args, str) else _compact(args)
    return f"[tool_call {call.get('name', '?')}] {shown}"


def _compact(value: object) -> str:
    if value is None:
        return ""
    return msgspec.json.encode(value).decode()


def _join(texts: list[str]) -> str:
    return "\n".join(t for t in texts if t)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _kind(block: object) -> object:
    return block.get("type") if isinstance(block, dict) else None
