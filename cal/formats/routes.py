"""Which API a gateway request speaks, from its method and path alone (DESIGN §4).

`/v1/messages` is Anthropic, `/v1/chat/completions` OpenAI Chat, `/v1/responses` OpenAI Responses,
`/v1beta/models/{model}:generateContent|streamGenerateContent` Gemini. An optional first path
segment is a source tag (`/claude/v1/messages` → source "claude").
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import unquote

import msgspec

from cal.formats import ApiFormat

Operation = Literal["generate", "count_tokens", "models", "health"]


class ClientRoute(msgspec.Struct, frozen=True):
    """What a request path asks for."""

    format: ApiFormat
    operation: Operation
    source_tag: str | None = None
    path_model: str | None = None
    """Gemini puts the model in the path."""
    path_stream: bool | None = None
    """Gemini says streaming in the path; other APIs in the body."""
    upstream_path: str = ""
    """The path after the endpoint's base URL for a same-format call (`/v1` dropped for OpenAI)."""


_POST_ROUTES: dict[str, tuple[ApiFormat, Operation, str]] = {
    "/v1/messages": ("anthropic", "generate", "/v1/messages"),
    "/v1/messages/count_tokens": ("anthropic", "count_tokens", "/v1/messages/count_tokens"),
    "/v1/chat/completions": ("openai-chat", "generate", "/chat/completions"),
    "/v1/responses": ("openai-responses", "generate", "/responses"),
    "/v1/responses/input_tokens": ("openai-responses", "count_tokens", "/responses/input_tokens"),
}
_GEMINI_PREFIX = "/v1beta/models/"
_TAG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def _split_tag(path: str) -> tuple[str | None, str]:
    """(`claude`, `/v1/messages`) for `/claude/v1/messages`; (None, path) when there is no tag."""
    if path.startswith(("/v1/", "/v1beta/")) or path in ("/health", "/v1"):
        return None, path
    head, sep, rest = path[1:].partition("/")
    if sep and head and set(head.lower()) <= _TAG_CHARS and len(head) <= 64:
        return head, "/" + rest
    return None, path


def match_route(method: str, path: str) -> ClientRoute | None:
    """The route for a request, or None when the gateway does not serve it (404)."""
    tag, path = _split_tag(path.rstrip("/") or "/")
    if method == "GET":
        if path == "/health" and tag is None:
            return ClientRoute("anthropic", "health")
        if path == "/v1/models":
            return ClientRoute("openai-chat", "models", tag, upstream_path="/models")
        if path == "/v1beta/models":
            return ClientRoute("gemini", "models", tag, upstream_path=path)
        return None
    if method != "POST":
        return None
    if (known := _POST_ROUTES.get(path)) is not None:
        fmt, op, upstream_path = known
        return ClientRoute(fmt, op, tag, upstream_path=upstream_path)
    if path.startswith(_GEMINI_PREFIX):
        model, sep, action = path[len(_GEMINI_PREFIX) :].rpartition(":")
        if sep and model and action in ("generateContent", "streamGenerateContent"):
            return ClientRoute(
                "gemini",
                "generate",
                tag,
                path_model=unquote(model),
                path_stream=action == "streamGenerateContent",
                upstream_path=path,
            )
        if sep and model and action == "countTokens":
            return ClientRoute("gemini", "count_tokens", tag, unquote(model), upstream_path=path)
    return None


def guess_format(path: str, header_names: frozenset[str]) -> ApiFormat:
    """Best guess of the client's API for an error on a route we do not serve."""
    if "anthropic-version" in header_names or "/messages" in path:
        return "anthropic"
    if "x-goog-api-key" in header_names or "/v1beta/" in path:
        return "gemini"
    return "openai-responses" if "/responses" in path else "openai-chat"
