"""Header rules for both legs of a proxied call (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from cal.formats import ApiFormat
from cal.formats.upstream import CLIENT_CREDENTIAL_HEADERS, auth_headers

Header = tuple[str, str]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# What we never copy from the client to the upstream: hop-by-hop, the ones the client sets itself,
# and accept-encoding (cal asks for what it can decode, so it can read what it forwards).
# x-cal-transport marks a turn of a WebSocket session (cal/gateway/websocket.py): ours, not theirs.
_NOT_UPSTREAM = HOP_BY_HOP | {
    "host",
    "content-length",
    "accept-encoding",
    "remote-addr",
    "x-cal-transport",
}
# What we never copy from the upstream to the client: hop-by-hop, the ones our server sets (date,
# server), and the encoding/length of a body we decoded.
_NOT_DOWNSTREAM = HOP_BY_HOP | {"content-length", "content-encoding", "date", "server"}
UPSTREAM_ACCEPT_ENCODING = "gzip, br, zstd"


def decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[Header]:
    """ASGI header pairs (lower-case bytes) to str pairs, order and duplicates kept."""
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]


def header_value(headers: Iterable[Header], name: str) -> str | None:
    """The first value of header `name` (lower-case), or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def upstream_headers(client: list[Header], fmt: ApiFormat, key: str | None) -> list[Header]:
    """Headers sent upstream: the client's, minus what we own, with the endpoint's key if it has one.

    An endpoint without a key forwards the client's own credential (API key or OAuth bearer).
    """
    out = [(k, v) for k, v in client if k not in _NOT_UPSTREAM]
    if key:
        out = [(k, v) for k, v in out if k not in CLIENT_CREDENTIAL_HEADERS]
        out += auth_headers(fmt, key)
    out.append(("accept-encoding", UPSTREAM_ACCEPT_ENCODING))
    return out


def downstream_headers(upstream: Iterable[Header]) -> list[tuple[bytes, bytes]]:
    """Upstream response headers the client gets (as ASGI bytes pairs)."""
    return [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in upstream if k not in _NOT_DOWNSTREAM
    ]


def strip_query_key(query: str) -> str:
    """The query string without a `key=` parameter (Gemini's credential in the URL)."""
    if "key=" not in query:
        return query
    return "&".join(p for p in query.split("&") if not p.startswith("key="))
