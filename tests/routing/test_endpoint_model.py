"""The Endpoint record: model maps, masking, and no key in its repr."""

from __future__ import annotations

from cal.routing.model import Endpoint, mask_key
from cal.routing.resolve import choose_endpoint

KEY = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz"


def test_repr_and_str_never_show_the_key() -> None:
    endpoint = Endpoint("a", "https://api.anthropic.com", "anthropic", api_key=KEY)
    assert KEY not in repr(endpoint)
    assert KEY not in str(endpoint)
    assert KEY not in f"{[endpoint]}"


def test_mask_key() -> None:
    assert mask_key(KEY) == "sk-a…wxyz"
    assert mask_key("short") == "****"
    assert mask_key(None) is None


def test_model_map_with_wildcard() -> None:
    endpoint = Endpoint("a", "u", "openai-chat", model_map={"big": "gpt-5", "*": "gpt-5-mini"})
    assert endpoint.map_model("big") == "gpt-5"
    assert endpoint.map_model("other") == "gpt-5-mini"
    assert Endpoint("b", "u", "openai-chat").map_model("x") == "x"


def test_choose_endpoint_prefers_the_active_enabled_one() -> None:
    first = Endpoint("first", "u", "anthropic", priority=1)
    second = Endpoint("second", "u", "anthropic", priority=2)
    off = Endpoint("off", "u", "anthropic", priority=0, enabled=False)
    assert choose_endpoint([second, first, off], None) == first
    assert choose_endpoint([second, first, off], "second") == second
    assert choose_endpoint([second, first, off], "off") == first
    assert choose_endpoint([off], None) is None
