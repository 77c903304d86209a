"""Secret redaction for everything capture records (pure).

A redacted secret becomes a hint that lets people tell keys apart without exposing them: a
public prefix (`sk-ant-api03-`, `sk-proj-`, `AIza`, `Bearer `…, or the first 4 characters),
the length, and for long values the first 8 hex digits of its sha256:
`sk-ant-api03-...[REDACTED len=108 sha256=1a2b3c4d]`. Markers are ASCII without quotes or
backslashes, so a JSON body stays valid JSON after redaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

Header = tuple[str, str]

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
    }
)
"""Header names whose whole value is a credential."""
_SECRET_NAME_PARTS = ("api-key", "apikey", "access-token", "refresh-token", "auth-token", "secret")
_SECRET_NAME = re.compile("|".join(re.escape(part) for part in _SECRET_NAME_PARTS))
SECRET_QUERY_KEYS = frozenset(
    {"key", "api_key", "apikey", "api-key", "access_token", "token", "refresh_token", "secret"}
)
"""Query parameters whose value is a credential (Gemini's `?key=`, OAuth `access_token`)."""

# Credential shapes found anywhere in a value or a body; group 1 is the public prefix kept. One
# pattern per shape, each starting with a literal or a small class, so `re` scans fast; they run
# in this order (a `Bearer` token is hinted whole before its parts could match another shape).
# The generic `sk-` and `Bearer` shapes must start a word (the lookbehind after the literal), so
# words such as `task-management-…` stay; the distinctive shapes match anywhere (`%3DAIza…`).
_BEARER = re.compile(
    rb"([Bb](?<![A-Za-z0-9_\-][Bb])[Ee][Aa][Rr][Ee][Rr]\s+)(?=[A-Za-z0-9._~+/\-]{16})"
    rb"(?>[A-Za-z0-9_~+/\-]+(?:\.[A-Za-z0-9_~+/\-]+)*=*)(?!\.)"
)
_SHAPES = (
    _BEARER,
    re.compile(rb"(sk-ant-[a-z]{2,5}\d{0,3}-)[A-Za-z0-9_\-]{16,}"),
    re.compile(rb"(sk-(?:proj|svcacct|admin|None)-)[A-Za-z0-9_\-]{16,}"),
    re.compile(rb"(sk-(?<![A-Za-z0-9_\-]sk-))[A-Za-z0-9_\-]{20,}"),
    re.compile(rb"(AIza)[0-9A-Za-z_\-]{30,}"),
    re.compile(rb"(ya29\.)[0-9A-Za-z_\-.]{20,}"),
    re.compile(rb"(eyJ)[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
)
_LITERALS = (b"bearer", b"sk-ant-", b"sk-", b"sk-", b"AIza", b"ya29.", b"eyJ")
"""What each shape cannot match without (`bearer` in any ASCII case). A shape runs only on data
that holds its literal: the same result as running it, for a `bytes.find` instead of a scan."""
_TEXT_LITERAL = re.compile(r"sk-|AIza|ya29\.|eyJ|[Bb][Ee][Aa][Rr][Ee][Rr]")
_MARKER = b"[REDACTED"


def hint(secret: str, *, keep_prefix: bool = True) -> str:
    """The non-secret stand-in for `secret` (prefix, length, short fingerprint).

    A known public prefix (`sk-ant-api03-`, `AIza`…) is always kept; otherwise the first 4
    characters of a long value are kept only with `keep_prefix` (not for cookies).
    """
    raw = secret.encode("utf-8", "surrogateescape")
    return _hint(raw, fallback_prefix=keep_prefix).decode("ascii", "replace")


def _hint(secret: bytes, prefix: bytes | None = None, *, fallback_prefix: bool = True) -> bytes:
    if prefix is None:
        match = next((m for p in _SHAPES[1:] if (m := p.fullmatch(secret))), None)
        if match is not None:
            prefix = match.group(1)
        elif fallback_prefix and len(secret) >= 16:
            prefix = secret[:4]
        else:
            prefix = b""
    rest = len(secret) - len(prefix)
    out = prefix + b"..." + _MARKER + b" len=" + str(len(secret)).encode()
    if rest >= 16:
        out += b" sha256=" + hashlib.sha256(secret).hexdigest()[:8].encode()
    return out + b"]"


def _scheme_hint(value: str) -> str:
    """`Bearer tok` keeps its scheme; any other value is hinted whole."""
    scheme, sep, token = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic", "token", "digest") and token:
        return f"{scheme} {hint(token.strip())}"
    return hint(value, keep_prefix=False)


def is_secret_header(name: str) -> bool:
    """True for header names that carry credentials."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or _SECRET_NAME.search(lowered) is not None


def redact_headers(headers: Iterable[Header]) -> list[Header]:
    """Headers with credential values replaced by hints; order and duplicates kept."""
    out: list[Header] = []
    for name, value in headers:
        if is_secret_header(name):
            out.append((name, _scheme_hint(value)))
        else:
            out.append((name, redact_text(value)))
    return out


def redact_query(query: str) -> str:
    """A query string with credential parameters (`key=…`, `access_token=…`) hinted."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and name.lower() in SECRET_QUERY_KEYS and value:
            parts.append(f"{name}={hint(value)}")
        else:
            parts.append(redact_text(part))
    return "&".join(parts)


def redact_url(url: str) -> str:
    """A URL with its query credentials and any `user:password@` hinted."""
    base, sep, rest = url.partition("?")
    query, hash_sep, fragment = rest.partition("#")
    scheme, slashes, remainder = base.partition("://")
    if slashes:
        authority, slash, path = remainder.partition("/")
        if "@" in authority:
            userinfo, _, host = authority.rpartition("@")
            user, colon, password = userinfo.partition(":")
            shown = f"{user}:{hint(password)}" if colon else hint(user)
            authority = f"{shown}@{host}"
        base = f"{scheme}://{authority}{slash}{redact_text(path)}"
    return base + sep + redact_query(query) + hash_sep + fragment


def redact_text(text: str) -> str:
    """`text` with every recognised credential shape hinted."""
    if not _may_hold_token(text) or not _holds_literal(text):
        return text
    return redact_bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")


def redact_bytes(data: bytes) -> bytes:
    """`data` (a body, a stream event) with every recognised credential shape hinted."""
    if _has_bearer(data):
        data = _BEARER.sub(_replace_bearer, data)
    for shape, literal in zip(_SHAPES[1:], _LITERALS[1:], strict=True):
        if literal in data:
            data = shape.sub(_replace, data)
    return data


def _has_bearer(data: bytes) -> bool:
    return b"earer" in data or b"bearer" in data.lower()


def redact_many(items: list[bytes]) -> list[bytes]:
    """`redact_bytes` of each item; one scan of them all first, since most hold no secret."""
    if not contains_secret(b"\n".join(items)):
        return items
    return [redact_bytes(item) for item in items]


def _replace_bearer(match: re.Match[bytes]) -> bytes:
    """`Bearer <token>`: keep the scheme, hint the token (with its own known prefix)."""
    scheme = match.group(1)
    return scheme + _hint(match.group(0)[len(scheme) :])


def _replace(match: re.Match[bytes]) -> bytes:
    return _hint(match.group(0), match.group(1))


def _may_hold_token(text: str) -> bool:
    return len(text) >= 16


def _holds_literal(text: str) -> bool:
    """True when some shape's literal is in `text` (a short value usually holds none)."""
    return _TEXT_LITERAL.search(text) is not None


def contains_secret(data: bytes) -> bool:
    """True when `data` holds something `redact_bytes` would replace."""
    if _has_bearer(data) and _BEARER.search(data) is not None:
        return True
    return any(
        literal in data and shape.search(data) is not None
        for shape, literal in zip(_SHAPES[1:], _LITERALS[1:], strict=True)
    )
