"""Client format detection from the path (DESIGN §4)."""

from __future__ import annotations

import pytest

from cal.formats.routes import guess_format, match_route


@pytest.mark.parametrize(
    ("method", "path", "fmt", "op", "tag", "upstream"),
    [
        ("POST", "/v1/messages", "anthropic", "generate", None, "/v1/messages"),
        ("POST", "/claude/v1/messages", "anthropic", "generate", "claude", "/v1/messages"),
        (
            "POST",
            "/v1/messages/count_tokens",
            "anthropic",
            "count_tokens",
            None,
            "/v1/messages/count_tokens",
        ),
        ("POST", "/v1/chat/completions", "openai-chat", "generate", None, "/chat/completions"),
        ("POST", "/codex/v1/responses", "openai-responses", "generate", "codex", "/responses"),
        ("GET", "/v1/models", "openai-chat", "models", None, "/models"),
        ("GET", "/health", "anthropic", "health", None, ""),
    ],
)
def test_known_routes(
    method: str, path: str, fmt: str, op: str, tag: str | None, upstream: str
) -> None:
    route = match_route(method, path)
    assert route is not None
    assert (route.format, route.operation, route.source_tag, route.upstream_path) == (
        fmt,
        op,
        tag,
        upstream,
    )


def test_gemini_route_takes_model_and_stream_from_the_path() -> None:
    route = match_route("POST", "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    assert route is not None
    assert (route.format, route.path_model, route.path_stream, route.source_tag) == (
        "gemini",
        "gemini-2.5-flash",
        True,
        "gemini",
    )
    plain = match_route("POST", "/v1beta/models/gemini-2.5-pro:generateContent")
    assert plain is not None and plain.path_stream is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/messages"),
        ("POST", "/v1/unknown"),
        ("DELETE", "/v1/messages"),
        ("POST", "/v1beta/models/x:deleteContent"),
        ("POST", "/a/b/v1/messages"),
    ],
)
def test_unknown_routes(method: str, path: str) -> None:
    assert match_route(method, path) is None


def test_guess_format_for_errors() -> None:
    assert guess_format("/v1/foo", frozenset({"anthropic-version"})) == "anthropic"
    assert guess_format("/v1beta/x", frozenset()) == "gemini"
    assert guess_format("/v1/responses/x", frozenset()) == "openai-responses"
    assert guess_format("/v1/foo", frozenset()) == "openai-chat"
