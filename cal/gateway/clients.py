"""Which agent sent a request, and its session, from the headers (pure)."""

from __future__ import annotations

from cal.gateway.headers import Header

_SESSION_HEADERS = ("x-claude-code-session-id", "session-id", "session_id", "x-session-id")
_AGENTS = (
    ("claude-cli/", "Claude Code"),
    ("claude-code", "Claude Code"),
    ("codex_", "Codex"),
    ("codex-", "Codex"),
    ("geminicli", "Gemini CLI"),
    ("gemini-cli", "Gemini CLI"),
    ("anthropic/python", "Anthropic Python SDK"),
    ("anthropic/js", "Anthropic JS SDK"),
    ("openai/python", "OpenAI Python SDK"),
    ("openai/js", "OpenAI JS SDK"),
    ("google-genai", "Google GenAI SDK"),
    ("curl/", "curl"),
)


def identify_client(headers: list[Header]) -> tuple[str | None, str | None]:
    """(client name, session id) as far as the headers tell."""
    user_agent = ""
    session = None
    for name, value in headers:
        if name == "user-agent":
            user_agent = value.lower()
        elif name in _SESSION_HEADERS and session is None:
            session = value
    client = None
    for marker, label in _AGENTS:
        if marker in user_agent:
            client = label
            break
    if client is None and user_agent:
        client = user_agent.split("/", 1)[0][:40] or None
    return client, session
