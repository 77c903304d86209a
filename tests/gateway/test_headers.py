"""Which headers cross each leg of a proxied call."""

from __future__ import annotations

from cal.gateway.headers import downstream_headers, strip_query_key, upstream_headers

CLIENT = [
    ("host", "127.0.0.1:3010"),
    ("content-length", "12"),
    ("connection", "keep-alive"),
    ("accept-encoding", "br, zstd"),
    ("x-api-key", "sk-ant-client"),
    ("anthropic-version", "2023-06-01"),
    ("anthropic-beta", "a,b"),
]


def test_endpoint_key_replaces_the_client_credential() -> None:
    out = upstream_headers(CLIENT, "anthropic", "sk-ant-endpoint")
    assert ("x-api-key", "sk-ant-endpoint") in out
    assert ("x-api-key", "sk-ant-client") not in out
    assert ("anthropic-beta", "a,b") in out and ("anthropic-version", "2023-06-01") in out
    names = [k for k, _ in out]
    assert "host" not in names and "content-length" not in names and "connection" not in names
    assert ("accept-encoding", "gzip, br, zstd") in out


def test_without_endpoint_key_the_client_credential_is_forwarded() -> None:
    out = upstream_headers([*CLIENT, ("authorization", "Bearer oauth-token")], "anthropic", None)
    assert ("x-api-key", "sk-ant-client") in out
    assert ("authorization", "Bearer oauth-token") in out


def test_openai_and_gemini_keys() -> None:
    assert ("authorization", "Bearer k") in upstream_headers([], "openai-chat", "k")
    assert ("x-goog-api-key", "k") in upstream_headers([], "gemini", "k")


def test_downstream_drops_what_hypercorn_or_decoding_own() -> None:
    out = downstream_headers(
        [
            ("content-type", "text/event-stream"),
            ("content-encoding", "gzip"),
            ("date", "x"),
            ("server", "y"),
            ("transfer-encoding", "chunked"),
            ("request-id", "r1"),
        ]
    )
    assert out == [(b"content-type", b"text/event-stream"), (b"request-id", b"r1")]


def test_strip_query_key() -> None:
    assert strip_query_key("alt=sse&key=AIza123") == "alt=sse"
    assert strip_query_key("beta=true") == "beta=true"
