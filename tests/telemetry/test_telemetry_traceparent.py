"""W3C traceparent parsing and id helpers."""

from __future__ import annotations

import pytest

from cal.telemetry.traceparent import (
    child_span_id,
    format_traceparent,
    new_span_id,
    new_trace_id,
    parse_traceparent,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parses_a_valid_header_and_formats_it_back() -> None:
    parsed = parse_traceparent(VALID)
    assert parsed == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert format_traceparent(*parsed) == VALID
    assert parse_traceparent(VALID.upper()) == parsed


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  # not hex
        VALID + "-extra",  # version 00 has exactly four fields
    ],
)
def test_rejects_malformed_headers(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_future_versions_keep_the_first_four_fields() -> None:
    future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever"
    assert parse_traceparent(future) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        "01",
    )


def test_new_ids_are_random_lowercase_hex_of_the_right_size() -> None:
    traces = {new_trace_id() for _ in range(100)}
    spans = {new_span_id() for _ in range(100)}
    assert len(traces) == 100 and len(spans) == 100
    assert all(len(t) == 32 and int(t, 16) and t == t.lower() for t in traces)
    assert all(len(s) == 16 and int(s, 16) for s in spans)
    header = format_traceparent(new_trace_id(), new_span_id())
    assert parse_traceparent(header) is not None


def test_child_span_ids_are_stable_and_distinct() -> None:
    parent = "b7ad6b7169203331"
    ids = {child_span_id(parent, "attempt", i) for i in range(50)}
    assert len(ids) == 50
    assert child_span_id(parent, "attempt", 3) == child_span_id(parent, "attempt", 3)
    assert child_span_id(parent, "attempt", 0) != child_span_id("0" * 15 + "1", "attempt", 0)
    assert all(len(i) == 16 and int(i, 16) for i in ids)
