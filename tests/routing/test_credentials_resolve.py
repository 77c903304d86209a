"""Credential pools (least recently used, cooldowns, keys taken out) and endpoint resolution."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from cal.routing.credentials import CredentialBook, credential_ids
from cal.routing.model import Endpoint
from cal.routing.resolve import PinError, resolve, split_pin

IDS = credential_ids(3)


def test_ids() -> None:
    assert IDS == ["cred-1", "cred-2", "cred-3"]
    assert credential_ids(0) == ["client"]


def test_least_recently_used_ready_key_is_picked() -> None:
    book = CredentialBook()
    assert book.pick("e", IDS, 0.0) == "cred-1"
    book.used("e", "cred-1", 1.0)
    assert book.pick("e", IDS, 1.0) == "cred-2"
    book.used("e", "cred-2", 2.0)
    book.used("e", "cred-3", 3.0)
    assert book.pick("e", IDS, 3.0) == "cred-1"


def test_cooling_and_taken_out_keys_are_skipped() -> None:
    book = CredentialBook()
    book.cool("e", "cred-1", until=10.0, reason="429")
    book.take_out("e", "cred-2", "401")
    assert book.pick("e", IDS, 5.0) == "cred-3"
    book.cool("e", "cred-3", until=20.0, reason="429")
    assert book.pick("e", IDS, 5.0) is None
    assert book.retry_at("e", IDS) == 10.0
    assert book.pick("e", IDS, 10.0) == "cred-1"
    book.take_out("e", "cred-1", "403")
    book.take_out("e", "cred-3", "403")
    assert book.retry_at("e", IDS) is None


def test_a_later_cooldown_wins_and_new_keys_reset_health() -> None:
    book = CredentialBook()
    book.cool("e", "cred-1", until=30.0, reason="reset")
    book.cool("e", "cred-1", until=10.0, reason="retry-after")
    assert book.health("e", "cred-1").cooling_until == 30.0
    book.sync("e", 1)
    book.take_out("e", "cred-1", "401")
    book.sync("e", 1)
    assert book.health("e", "cred-1").taken_out == "401"
    book.sync("e", 2)
    assert book.health("e", "cred-1").taken_out is None


def test_counters_and_report() -> None:
    book = CredentialBook()
    book.used("e", "cred-1", 1.0)
    book.answered("e", "cred-1", 500)
    book.used("e", "cred-1", 2.0)
    book.answered("e", "cred-1", 200)
    book.add_tokens("e", "cred-1", 10, 5)
    row = book.report("e", 3.0)["cred-1"]
    assert (row["requests"], row["errors"], row["input_tokens"], row["output_tokens"]) == (
        2,
        1,
        10,
        5,
    )
    assert row["ready"] is True


@given(st.lists(st.sampled_from(IDS), max_size=30))
def test_rotation_is_fair(order: list[str]) -> None:
    """Whatever happened before, picking and using in turn visits every key once per round."""
    book = CredentialBook()
    for t, cred in enumerate(order):
        book.used("e", cred, float(t))
    start = float(len(order))
    round_ = []
    for i in range(3):
        cred = book.pick("e", IDS, start + i)
        assert cred is not None
        book.used("e", cred, start + i)
        round_.append(cred)
    assert sorted(round_) == IDS


A = Endpoint("a", "http://a", "anthropic", priority=10)
B = Endpoint("b", "http://b", "openai-chat", priority=20, model_map={"gpt-x": "gpt-5"})
C = Endpoint("c", "http://c", "gemini", priority=30)
OFF = Endpoint("off", "http://off", "gemini", enabled=False)
ALL = [C, OFF, B, A]


def test_active_first_then_priority() -> None:
    assert [e.name for e in resolve(ALL, None, "m", None).candidates] == ["a", "b", "c"]
    resolution = resolve(ALL, "c", "m", None)
    assert [e.name for e in resolution.candidates] == ["c", "a", "b"]
    assert resolution.reason == "active endpoint"


def test_a_model_map_naming_the_model_is_preferred() -> None:
    resolution = resolve(ALL, "c", "gpt-x", None)
    assert [e.name for e in resolution.candidates] == ["b", "c", "a"]
    assert resolution.reason == "model map names 'gpt-x'"


def test_pins() -> None:
    by_header = resolve(ALL, "a", "m", "c")
    assert ([e.name for e in by_header.candidates], by_header.model) == (["c"], "m")
    by_prefix = resolve(ALL, "a", "@b/gpt-x", None)
    assert ([e.name for e in by_prefix.candidates], by_prefix.model) == (["b"], "gpt-x")
    assert by_prefix.pinned == "b"
    with pytest.raises(PinError, match="unknown endpoint 'nope'"):
        resolve(ALL, None, "m", "nope")
    with pytest.raises(PinError, match=r"'off' .* is disabled"):
        resolve(ALL, None, "@off/m", None)


def test_split_pin() -> None:
    assert split_pin("@a/claude") == ("a", "claude")
    assert split_pin("@a/org/model") == ("a", "org/model")
    assert split_pin("claude") == (None, "claude")
    assert split_pin("@nothing") == (None, "@nothing")
    assert split_pin(None) == (None, None)


def test_repr_masks_every_key_of_a_pool() -> None:
    pool = Endpoint(
        "p",
        "http://p",
        "anthropic",
        api_key="sk-first-000000000001",
        extra_api_keys=("sk-second-00000000002",),
        idle_timeout_s=5.0,
    )
    assert "sk-first-000000000001" not in repr(pool)
    assert "sk-second-00000000002" not in repr(pool)
    assert pool.api_keys == ("sk-first-000000000001", "sk-second-00000000002")
    assert pool.timeouts() == {"idle_timeout_s": 5.0}
