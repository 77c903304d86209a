"""The model map edits one value of the client's body and keeps every other byte."""

from __future__ import annotations

import msgspec

from cal.gateway.pipeline import _with_model


def test_single_occurrence_is_spliced_in_place() -> None:
    body = b'{ "model" : "a",\n  "messages": [ {"x": 1} ],  "z":true }'
    assert _with_model(body, "b") == body.replace(b'"a"', b'"b"')


def test_ambiguous_pair_falls_back_to_top_level_reencode() -> None:
    body = b'{"model":"a","metadata":{"model":"a"},"n":[1, 2]}'
    out = msgspec.json.decode(_with_model(body, "b"))
    assert out == {"model": "b", "metadata": {"model": "a"}, "n": [1, 2]}
    assert b'"n":[1, 2]' in _with_model(body, "b")  # values stay verbatim


def test_missing_model_is_added() -> None:
    assert msgspec.json.decode(_with_model(b'{"x":1}', "m")) == {"x": 1, "model": "m"}


def test_escaped_model_names() -> None:
    body = b'{"model":"we\\"ird","k":1}'
    assert msgspec.json.decode(_with_model(body, 'new"one')) == {"model": 'new"one', "k": 1}
