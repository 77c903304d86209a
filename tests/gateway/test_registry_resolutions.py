"""A snapshot remembers what routing resolved for it: the same question, the same answer, for as
long as the snapshot is current; a change of endpoints brings a new snapshot and fresh answers."""

from __future__ import annotations

import pytest

from cal.gateway.registry import EndpointRegistry
from cal.routing.model import Endpoint
from cal.routing.resolve import PinError, resolve

A = Endpoint(name="a", url="http://127.0.0.1:1", format="anthropic", priority=1)
B = Endpoint(name="b", url="http://127.0.0.1:2", format="openai-chat", model_map={"gpt-x": "gpt-x"})


def test_a_snapshot_answers_each_question_once_and_as_resolve_does() -> None:
    registry = EndpointRegistry()
    registry.set_stored([A, B], None)
    snapshot = registry.snapshot
    first = snapshot.resolve("claude-x", None)
    assert snapshot.resolve("claude-x", None) is first
    assert first == resolve(snapshot.endpoints, snapshot.active, "claude-x", None)
    assert [e.name for e in first.candidates] == ["a", "b"]
    mapped = snapshot.resolve("gpt-x", None)
    assert [e.name for e in mapped.candidates] == ["b", "a"]
    pinned = snapshot.resolve("claude-x", "b")
    assert [e.name for e in pinned.candidates] == ["b"]


def test_a_new_snapshot_resolves_afresh() -> None:
    registry = EndpointRegistry()
    registry.set_stored([A, B], None)
    before = registry.snapshot.resolve("claude-x", None)
    registry.set_stored([A, B], "b")  # the user switched the active endpoint
    after = registry.snapshot.resolve("claude-x", None)
    assert [e.name for e in before.candidates] == ["a", "b"]
    assert [e.name for e in after.candidates] == ["b", "a"]


def test_an_unknown_pin_is_refused_every_time() -> None:
    registry = EndpointRegistry()
    registry.set_stored([A], None)
    for _ in range(2):
        with pytest.raises(PinError):
            registry.snapshot.resolve("claude-x", "nowhere")
    assert registry.snapshot.resolutions == {}


def test_the_memory_is_bounded() -> None:
    registry = EndpointRegistry()
    registry.set_stored([A], None)
    snapshot = registry.snapshot
    for i in range(1000):
        snapshot.resolve(f"model-{i}", None)
        assert len(snapshot.resolutions) <= 256
    assert snapshot.resolve("model-999", None).model == "model-999"
