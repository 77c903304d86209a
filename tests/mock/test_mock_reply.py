"""The mock's answer rules and fault specs, as pure functions (no sockets)."""

from __future__ import annotations

import msgspec
import pytest

from cal.mock.faults import Faults, FaultSpecError, parse_faults, split_model
from cal.mock.reply import (
    MockOptions,
    ToolSpec,
    Turn,
    plan_reply,
    schema_arguments,
    split_pieces,
)

WEATHER = ToolSpec(
    "get_weather",
    msgspec.json.encode(
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "exclusiveMinimum": 0},
                "metric": {"type": "boolean"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric", "unit"],
        }
    ),
)
CLOCK = ToolSpec("read_clock", b'{"type":"object","properties":{}}')


def _reply(turn: Turn, chunks: int = 4):
    return plan_reply(turn, MockOptions(chunks=chunks), rid="r1", created=0)


@pytest.mark.parametrize(("text", "chunks"), [("abcdefghij", 4), ("ab", 8), ("x" * 101, 7)])
def test_split_pieces_rejoin_without_empty_pieces(text: str, chunks: int) -> None:
    pieces = split_pieces(text, chunks)
    assert "".join(pieces) == text
    assert len(pieces) == min(chunks, len(text))
    assert all(pieces)


def test_split_pieces_of_nothing_is_nothing() -> None:
    assert split_pieces("", 8) == []


def test_text_answer_quotes_the_last_user_text() -> None:
    reply = _reply(Turn(model="m", last_user_text="  what is\nthe weather " + "x" * 80))
    assert reply.text == (
        "Hello from the cal mock provider. You said: what is the weather " + "x" * 40
    )
    assert reply.tool_calls == []


def test_tool_word_calls_the_first_tool_with_required_arguments() -> None:
    reply = _reply(Turn(model="m", last_user_text="Use a TOOL now", tools=[WEATHER, CLOCK]))
    (call,) = reply.tool_calls
    assert call.name == "get_weather"
    assert call.args == {"city": "mock", "days": 1, "metric": True, "unit": "c"}
    assert msgspec.json.decode(call.arguments) == call.args


def test_parallel_calls_the_first_two_tools() -> None:
    turn = Turn(model="m", last_user_text="parallel tools please", tools=[WEATHER, CLOCK])
    assert [c.name for c in _reply(turn).tool_calls] == ["get_weather", "read_clock"]


def test_no_tool_word_or_no_tools_means_text() -> None:
    assert _reply(Turn(model="m", last_user_text="hello", tools=[WEATHER])).tool_calls == []
    assert _reply(Turn(model="m", last_user_text="a tool")).tool_calls == []
    assert _reply(Turn(model="m", last_user_text="toolbox", tools=[WEATHER])).tool_calls == []


def test_forced_tool_choice_calls_the_named_tool() -> None:
    turn = Turn(model="m", last_user_text="hi", tools=[WEATHER, CLOCK], forced_tool="read_clock")
    assert [c.name for c in _reply(turn).tool_calls] == ["read_clock"]


def test_tool_result_is_mentioned_and_ends_the_calls() -> None:
    turn = Turn(model="m", last_user_text="use the tool", tool_result="18C", tools=[WEATHER])
    reply = _reply(turn)
    assert reply.tool_calls == []
    assert reply.text == "Hello from the cal mock provider. The tool returned: 18C"


def test_custom_tool_gets_plain_input() -> None:
    tool = ToolSpec("exec", kind="custom", namespace="functions")
    (call,) = _reply(Turn(model="m", last_user_text="tool", tools=[tool])).tool_calls
    assert (call.kind, call.arguments, call.namespace) == ("custom", "mock", "functions")


def test_schema_arguments_follow_nested_and_union_schemas() -> None:
    schema = {
        "type": "object",
        "properties": {
            "opt": {"type": ["null", "number"]},
            "choice": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
            "fixed": {"const": "v1"},
            "inner": {
                "type": "OBJECT",
                "properties": {"n": {"type": "INTEGER"}},
                "required": ["n"],
            },
            "items": {"type": "array", "items": {"type": "string"}},
            "pair": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
            "code": {"type": "string", "minLength": 6},
            "low": {"type": "number", "minimum": 2.5},
        },
        "required": ["opt", "choice", "fixed", "inner", "items", "pair", "code", "low"],
    }
    assert schema_arguments(schema) == {
        "opt": 1,
        "choice": True,
        "fixed": "v1",
        "inner": {"n": 1},
        "items": [],
        "pair": [1, 1],
        "code": "mockkk",
        "low": 3,
    }


def test_usage_counts_body_bytes_and_cache_shares() -> None:
    plain = _reply(Turn(model="m", body_size=4000, last_user_text="hi")).usage
    assert (plain.input_total, plain.cache_read, plain.cache_write, plain.reasoning) == (
        1000,
        0,
        0,
        0,
    )
    cached = _reply(Turn(model="m", body_size=4000, cached=True, thinking=True)).usage
    assert (cached.input_total, cached.cache_read, cached.cache_write) == (1000, 750, 125)
    assert cached.uncached_input == 125
    assert 0 < cached.reasoning < cached.output


def test_thinking_and_signature_are_deterministic() -> None:
    turn = Turn(model="m", last_user_text="think", thinking=True)
    first, second = _reply(turn), _reply(turn)
    assert first == second
    assert first.thinking.startswith("Mock reasoning about: think")
    assert first.signature.startswith("mocksig_")


def test_fault_terms_parse() -> None:
    faults = parse_faults(
        "status=429-no-retry-after, delay-ms=5,cut-after=3,malformed,gzip,error-event,fail-first=2"
    )
    assert faults == Faults(
        status=429,
        retry_after=None,
        delay_ms=5,
        cut_after=3,
        malformed=True,
        gzip=True,
        error_event=True,
        fail_first=2,
    )
    assert parse_faults("fault=529+retry-after=0") == Faults(status=529, retry_after=0)
    assert parse_faults("503").status == 503
    assert parse_faults("") == Faults()


@pytest.mark.parametrize(
    "spec", ["explode", "status=abc", "status=200", "delay-ms", "gzip=1", "status=429-x"]
)
def test_unknown_fault_terms_are_rejected(spec: str) -> None:
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


def test_model_names_carry_fault_specs() -> None:
    assert split_model("mock-model+fault=429") == ("mock-model", "fault=429")
    assert split_model("mock-model+status=529+fail-first=2") == (
        "mock-model",
        "status=529+fail-first=2",
    )
    assert split_model("claude-x") == ("claude-x", "")
    assert parse_faults(split_model("m+status=529+fail-first=2")[1]) == Faults(
        status=529, fail_first=2
    )
