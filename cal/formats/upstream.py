"""Where and how to call an upstream of each format (DESIGN §4: the URL is the SDK's base URL).

Anthropic `https://api.anthropic.com` + `/v1/messages`; OpenAI `https://api.openai.com/v1` +
`/chat/completions` or `/responses`; Gemini `https://generativelanguage.googleapis.com` +
`/v1beta/models/{model}:generateContent` (`:streamGenerateContent?alt=sse` for streams).
"""

from __future__ import annotations

from urllib.parse import quote

from cal.formats import ApiFormat

Header = tuple[str, str]

CLIENT_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization"}
)
"""Request headers that carry a client credential (never recorded, replaced by an endpoint key)."""


def api_path(fmt: ApiFormat, *, model: str | None = None, stream: bool = False) -> str:
    """The API path cal appends to an endpoint's base URL (with Gemini's query for streams)."""
    if fmt == "anthropic":
        return "/v1/messages"
    if fmt == "openai-chat":
        return "/chat/completions"
    if fmt == "openai-responses":
        return "/responses"
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"/v1beta/models/{quote(model or '', safe='')}:{action}"


def join_url(base: str, path: str, query: str = "") -> str:
    """Base URL + API path (+ extra query), with exactly one slash between them."""
    url = base.rstrip("/") + path
    if query:
        url += ("&" if "?" in url else "?") + query
    return url


def auth_headers(fmt: ApiFormat, key: str) -> list[Header]:
    """The headers that carry `key` to an upstream of `fmt`."""
    if fmt == "anthropic":
        return [("x-api-key", key)]
    if fmt == "gemini":
        return [("x-goog-api-key", key)]
    return [("authorization", f"Bearer {key}")]
