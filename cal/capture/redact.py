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
from typing import NamedTuple

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

# Credential shapes found anywhere in a value or a body; group 1 is the public prefix kept. They
# run in this order (a `Bearer` token is hinted whole before its parts could match another shape).
# The generic `sk-` and `Bearer` shapes must start a word (the lookbehind after the literal), so
# words such as `task-management-…` stay; the distinctive shapes match anywhere (`%3DAIza…`).
_BEARER = re.compile(
    rb"([Bb](?<![A-Za-z0-9_\-][Bb])[Ee][Aa][Rr][Ee][Rr]\s+)(?=[A-Za-z0-9._~+/\-]{16})"
    rb"(?>[A-Za-z0-9_~+/\-]+(?:\.[A-Za-z0-9_~+/\-]+)*=*)(?!\.)"
)
_KEYS = (
    re.compile(rb"(sk-ant-[a-z]{2,5}\d{0,3}-)[A-Za-z0-9_\-]{16,}"),
    re.compile(rb"(sk-(?:proj|svcacct|admin|None)-)[A-Za-z0-9_\-]{16,}"),
    re.compile(rb"(sk-(?<![A-Za-z0-9_\-]sk-))[A-Za-z0-9_\-]{20,}"),
    re.compile(rb"(AIza)[0-9A-Za-z_\-]{30,}"),
    re.compile(rb"(ya29\.)[0-9A-Za-z_\-.]{20,}"),
    re.compile(rb"(eyJ)[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
)


class _Shape(NamedTuple):
    """A credential shape and the literal every one of its matches starts with."""

    pattern: re.Pattern[bytes]
    literal: bytes
    """Lower-case when `folded`: then it is sought in any ASCII case."""
    rare: tuple[bytes, ...]
    """The literal's least common byte in agents' requests (in each case when folded), found
    with `memchr`."""
    folded: bool = False
    scheme: bool = False
    """Group 1 is an auth scheme (`Bearer `), kept; the token after it is hinted whole."""

    def replace(self, match: re.Match[bytes]) -> bytes:
        if self.scheme:  # the token's hint keeps its own known prefix
            scheme = match.group(1)
            return scheme + _hint(match.group(0)[len(scheme) :])
        return _hint(match.group(0), match.group(1))


_SHAPES = (
    _Shape(_BEARER, b"bearer", (b"b", b"B"), folded=True, scheme=True),
    *(_Shape(key, b"sk-", (b"-",)) for key in _KEYS[:3]),
    _Shape(_KEYS[3], b"AIza", (b"z",)),
    _Shape(_KEYS[4], b"ya29.", (b"9",)),
    _Shape(_KEYS[5], b"eyJ", (b"J",)),
)
_DENSE = 64
"""Past this many occurrences of a literal's rare byte (plus one per 128 bytes searched), the
literal itself is sought instead (a slower scan, but one that does not stop at every byte)."""
_MANY = 256
"""Past this many places where a shape's literal occurs (`task-` holds `sk-`), the shape scans
the whole data instead of being tried at each place."""
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
        match = next((m for p in _KEYS if (m := p.fullmatch(secret))), None)
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
    """`data` (a body, a stream event) with every recognised credential shape hinted.

    The same as each shape's `re.sub` over the whole data, in order; but a shape is only tried
    where its literal occurs (every match starts with it), and the literal is found by `memchr`
    for its rare byte. A body without secrets costs a few fast scans, not seven regex scans.
    """
    found: dict[bytes, list[int]] = {}
    for shape in _SHAPES:
        if starts := _starts_once(data, shape, found):
            clean = _sub(shape, data, starts)
            if clean is not data:  # the places found before no longer hold
                data = clean
                found.clear()
    return data


def _starts_once(data: bytes, shape: _Shape, found: dict[bytes, list[int]]) -> list[int]:
    """`_starts`, kept in `found` by literal: one search serves the three `sk-` shapes."""
    if shape.literal not in found:
        found[shape.literal] = _starts(data, shape)
    return found[shape.literal]


def _starts(data: bytes, shape: _Shape) -> list[int]:
    """Where `shape.literal` occurs in `data` (in any ASCII case when folded), in order."""
    literal, folded = shape.literal, shape.folded
    found: list[int] = []
    for rare in shape.rare:
        offset = literal.index(rare.lower() if folded else rare)
        hits = 0
        at = data.find(rare, offset)
        while at >= 0:
            start = at - offset
            piece = data[start : start + len(literal)]
            if (piece.lower() if folded else piece) == literal:
                found.append(start)
            hits += 1
            if hits > _DENSE + (at >> 7):  # common here after all: seek the literal itself
                return _seek(data.lower() if folded else data, literal)
            at = data.find(rare, at + 1)
    return sorted(found) if len(shape.rare) > 1 else found


def _seek(data: bytes, literal: bytes) -> list[int]:
    """Where `literal` occurs in `data`, up to one past _MANY (past it, the places go unused)."""
    found: list[int] = []
    start = data.find(literal)
    while start >= 0 and len(found) <= _MANY:
        found.append(start)
        start = data.find(literal, start + 1)
    return found


def _sub(shape: _Shape, data: bytes, starts: list[int]) -> bytes:
    """`shape.pattern.sub(shape.replace, data)` for a pattern whose matches can only begin at
    `starts`; `data` itself when nothing matched."""
    if len(starts) > _MANY:  # `re` tries them faster than a loop of `match` calls would
        return shape.pattern.sub(shape.replace, data)
    pieces: list[bytes] = []
    end = 0
    for start in starts:
        if start < end:
            continue
        match = shape.pattern.match(data, start)  # its lookbehind still sees data[:start]
        if match is not None:
            pieces += (data[end:start], shape.replace(match))
            end = match.end()
    if not pieces:
        return data
    pieces.append(data[end:])
    return b"".join(pieces)


def redact_many(items: list[bytes]) -> list[bytes]:
    """`redact_bytes` of each item; one scan of them all first, since most hold no secret."""
    if not contains_secret(b"\n".join(items)):
        return items
    return [redact_bytes(item) for item in items]


def _may_hold_token(text: str) -> bool:
    return len(text) >= 16


def _holds_literal(text: str) -> bool:
    """True when some shape's literal is in `text` (a short value usually holds none)."""
    return _TEXT_LITERAL.search(text) is not None


def contains_secret(data: bytes) -> bool:
    """True when `data` holds something `redact_bytes` would replace."""
    found: dict[bytes, list[int]] = {}
    return any(_found(shape, data, _starts_once(data, shape, found)) for shape in _SHAPES)


def _found(shape: _Shape, data: bytes, starts: list[int]) -> bool:
    if len(starts) > _MANY:
        return shape.pattern.search(data) is not None
    return any(shape.pattern.match(data, start) is not None for start in starts)
