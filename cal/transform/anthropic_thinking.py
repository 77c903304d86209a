"""Reasoning settings for an Anthropic upstream, and what each Claude model accepts.

Rules (protocols.md §3.8, pitfalls 5, 11, 14): effort or budget becomes `thinking {enabled,
budget_tokens}` with a budget below `max_tokens`; thinking stays off (noted) for Claude 3 models
before 3.7, with a forced tool choice, or when the tool loop's assistant turn has no Anthropic
thinking block to replay; temperature/top_k go while it is on; Opus 4.7+ and Claude 5+ get no
sampling parameters at all.
"""

from __future__ import annotations

import re
from typing import Any

from cal.transform import TranslationContext
from cal.transform.ir import Message, Request, Thinking, ToolCall

_EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
_MAX_BUDGET = 32000


def _thinking_budget(req: Request, max_tokens: int) -> int | None:
    r = req.reasoning
    if r is None or r.mode == "disabled" or r.effort in ("none",):
        return None
    budget = r.budget_tokens
    if budget is not None and budget < 0:  # Gemini's -1: the model decides
        budget = _EFFORT_BUDGET.get(r.effort or "medium", _EFFORT_BUDGET["medium"])
    if budget is None and r.effort is not None:
        budget = _EFFORT_BUDGET.get(r.effort, _MAX_BUDGET)
    if budget is None and r.mode in ("adaptive", "enabled"):
        budget = _EFFORT_BUDGET["medium"]
    if budget is None or budget == 0:
        return None
    return min(max(budget, 1024), _MAX_BUDGET, max_tokens - 1)


def _last_tool_turn_lacks_thinking(messages: list[Message]) -> bool:
    for msg in reversed(messages):
        if msg.role == "assistant":
            has_call = any(isinstance(p, ToolCall) for p in msg.content)
            has_thinking = any(
                isinstance(p, Thinking) and p.origin == "anthropic" and p.signature
                for p in msg.content
            )
            return has_call and not has_thinking
    return False


def render_thinking(req: Request, body: dict[str, Any], ctx: TranslationContext) -> None:
    """`thinking` / `output_config.effort` from the IR's reasoning settings."""
    r = req.reasoning
    if r is None:
        return
    budget = _thinking_budget(req, body["max_tokens"])
    if budget is None:
        return
    if budget < 1024:
        ctx.note("thinking off: max_tokens leaves no room for Anthropic's 1024-token minimum")
        return
    if not model_thinks(req.model):
        ctx.note(f"thinking off: {req.model} has no extended thinking")
        return
    if _last_tool_turn_lacks_thinking(req.messages):
        ctx.note("thinking off: the tool loop's assistant turn has no Anthropic thinking to replay")
        return
    if body.get("tool_choice", {}).get("type") in ("any", "tool"):
        ctx.note("thinking off: Anthropic does not allow it with a forced tool choice")
        return
    body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    for key in ("temperature", "top_k"):
        if body.pop(key, None) is not None:
            ctx.note(f"dropped {key}: Anthropic rejects it with thinking on")


_CLAUDE_VERSION = re.compile(
    r"claude-(?:(opus|sonnet|haiku)-(\d+)(?:-(\d)(?!\d))?|(\d)-(\d)?-?(opus|sonnet|haiku))"
)


def _claude_version(model: str) -> tuple[str, int, int] | None:
    """(family, major, minor) of a Claude model id in either naming scheme, else None."""
    m = _CLAUDE_VERSION.search(model)
    if m is None:
        return None
    if m.group(1):
        return m.group(1), int(m.group(2)), int(m.group(3) or 0)
    return m.group(6), int(m.group(4)), int(m.group(5) or 0)


def model_thinks(model: str) -> bool:
    """False for Claude models known to lack extended thinking (Claude 3 before 3.7)."""
    v = _claude_version(model)
    return v is None or (v[1], v[2]) >= (3, 7)


def rejects_sampling(model: str) -> bool:
    """True for Claude models that reject temperature/top_p/top_k (Opus 4.7+, any 5+)."""
    v = _claude_version(model)
    if v is None:
        return False
    family, major, minor = v
    return major >= 5 or (family == "opus" and (major, minor) >= (4, 7))
