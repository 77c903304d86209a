"""Error bodies in each API's own shape (protocols.md §3.7).

A client always gets an error it can parse with its own SDK: Anthropic `{"type":"error","error":{...}}`,
OpenAI `{"error":{"message","type","param","code"}}`, Gemini `{"error":{"code","message","status"}}`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from cal.formats import ApiFormat

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "request_too_large",
    "rate_limit",
    "api_error",
    "timeout",
    "overloaded",
    "bad_gateway",
    "unavailable",
]

# kind -> (status, anthropic type, openai type, openai code, gemini status)
_TABLE: dict[ErrorKind, tuple[int, str, str, str | None, str]] = {
    "invalid_request": (
        400,
        "invalid_request_error",
        "invalid_request_error",
        None,
        "INVALID_ARGUMENT",
    ),
    "authentication": (
        401,
        "authentication_error",
        "invalid_request_error",
        "invalid_api_key",
        "UNAUTHENTICATED",
    ),
    "permission": (403, "permission_error", "invalid_request_error", None, "PERMISSION_DENIED"),
    "not_found": (404, "not_found_error", "invalid_request_error", "not_found", "NOT_FOUND"),
    "request_too_large": (
        413,
        "request_too_large",
        "invalid_request_error",
        "request_too_large",
        "INVALID_ARGUMENT",
    ),
    "rate_limit": (
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "RESOURCE_EXHAUSTED",
    ),
    "api_error": (500, "api_error", "server_error", None, "INTERNAL"),
    "bad_gateway": (502, "api_error", "server_error", "bad_gateway", "UNAVAILABLE"),
    "unavailable": (503, "overloaded_error", "server_error", "service_unavailable", "UNAVAILABLE"),
    "timeout": (504, "timeout_error", "server_error", "timeout", "DEADLINE_EXCEEDED"),
    "overloaded": (529, "overloaded_error", "server_error", "server_is_overloaded", "UNAVAILABLE"),
}


def kind_for_status(status: int) -> ErrorKind:
    """The error kind that best describes an HTTP status."""
    for kind, row in _TABLE.items():
        if row[0] == status:
            return kind
    if status == 408:
        return "timeout"
    return "invalid_request" if 400 <= status < 500 else "api_error"


def error_status(fmt: ApiFormat, kind: ErrorKind) -> int:
    """The HTTP status a client of `fmt` gets for `kind` (529 is Anthropic's alone)."""
    status = _TABLE[kind][0]
    if status == 529 and fmt != "anthropic":
        return 503
    return status


def error_body(fmt: ApiFormat, kind: ErrorKind, message: str) -> bytes:
    """An error body in `fmt`'s shape for `kind` with a human-readable `message`."""
    _, ant_type, oai_type, oai_code, gem_status = _TABLE[kind]
    if fmt == "anthropic":
        return msgspec.json.encode(
            {"type": "error", "error": {"type": ant_type, "message": message}}
        )
    if fmt == "gemini":
        code = error_status(fmt, kind)
        return msgspec.json.encode(
            {"error": {"code": code, "message": message, "status": gem_status}}
        )
    return msgspec.json.encode(
        {"error": {"message": message, "type": oai_type, "param": None, "code": oai_code}}
    )


def stream_error_event(fmt: ApiFormat, kind: ErrorKind, message: str) -> bytes:
    """An in-band SSE error for a stream that already started (protocols.md §3.7).

    Anthropic `event: error`; OpenAI Chat and Gemini a `data:` error object; Responses an
    `error` event (the SDKs raise on it).
    """
    _, ant_type, oai_type, oai_code, _ = _TABLE[kind]
    if fmt == "anthropic":
        data = msgspec.json.encode(
            {"type": "error", "error": {"type": ant_type, "message": message}}
        )
        return b"event: error\ndata: " + data + b"\n\n"
    if fmt == "openai-responses":
        data = msgspec.json.encode(
            {"type": "error", "code": oai_code or oai_type, "message": message, "param": None}
        )
        return b"event: error\ndata: " + data + b"\n\n"
    return b"data: " + error_body(fmt, kind, message) + b"\n\n"
