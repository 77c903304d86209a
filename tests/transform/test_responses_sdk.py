"""The openai SDK judges what Responses clients get: every golden output for a Responses client
parses as the SDK's types, and each stream accumulates (SDK `ResponseStreamState`, what
`responses.stream(...).get_final_response()` uses) to the response its terminal event carries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from cal.sse import SSEDecoder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transform"
STREAMS = sorted(FIXTURES.glob("openai-responses_via_*/*/expected_client_stream.sse"))
BODIES = sorted(FIXTURES.glob("openai-responses_via_*/*/expected_client_response.json"))
ERRORS = sorted(FIXTURES.glob("openai-responses_via_*/*/expected_client_error.json"))
EVENT = TypeAdapter(ResponseStreamEvent)


def _events(path: Path) -> list[tuple[str | None, dict[str, Any]]]:
    decoder = SSEDecoder()
    raw = decoder.feed(path.read_bytes()) + decoder.close()
    return [(ev.event, json.loads(ev.data)) for ev in raw]


def _case(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}"


@pytest.mark.parametrize("path", STREAMS, ids=_case)
def test_stream_is_accepted_by_the_sdk(path: Path) -> None:
    events = _events(path)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(name == data["type"] for name, data in events)
    assert events[0][1]["type"] == "response.created"
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    deltas: list[str] = []
    for _, data in events:
        EVENT.validate_python(data)  # strict: every required field of every event type
        event = construct_type(type_=ResponseStreamEvent, value=data)
        state.handle_event(event)  # type: ignore[arg-type]
        if data["type"] == "response.output_text.delta":
            deltas.append(data["delta"])
    last = events[-1][1]
    if last["type"] == "response.failed":
        assert last["response"]["error"]["message"]
        return
    assert last["type"] == "response.completed"
    final = state._completed_response
    assert final is not None
    assert final.output_text == "".join(deltas)
    assert final.usage is not None
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    for item in final.output:
        if item.type == "function_call":
            assert isinstance(json.loads(item.arguments), dict)
            assert item.call_id


@pytest.mark.parametrize("path", BODIES, ids=_case)
def test_body_is_accepted_by_the_sdk(path: Path) -> None:
    body = json.loads(path.read_text())
    response = Response.model_validate(body)
    assert response.object == "response"
    assert response.usage is not None
    assert response.status in ("completed", "incomplete")
    if response.status == "incomplete":
        assert response.incomplete_details is not None


@pytest.mark.parametrize("path", ERRORS, ids=_case)
def test_error_has_openai_shape(path: Path) -> None:
    error = json.loads(path.read_text())
    assert error["status"] in (429, 500)
    assert set(error["body"]["error"]) == {"message", "type", "param", "code"}


def test_fixture_sets_are_there() -> None:
    assert len(STREAMS) >= 15
    assert len(BODIES) >= 20
