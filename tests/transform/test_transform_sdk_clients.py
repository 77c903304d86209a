"""The official SDKs read every translated answer of the Anthropic and Chat client goldens.

Non-stream bodies are validated with the SDK's response models; streams are folded with the
SDK's own accumulators (anthropic `accumulate_event`, openai `ChatCompletionStreamState`), so a
wrong index, a delta of the wrong type or a malformed chunk fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from anthropic._models import construct_type
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from openai import ContentFilterFinishReasonError, LengthFinishReasonError
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from cal.sse import SSEDecoder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transform"


def _cases(client: str) -> list[Path]:
    return sorted(
        p
        for p in FIXTURES.glob(f"{client}_via_*/*")
        if (p / "expected_client_response.json").exists()
        or (p / "expected_client_stream.sse").exists()
    )


def _events(case: Path) -> list[tuple[str | None, Any]]:
    decoder = SSEDecoder()
    raw = (case / "expected_client_stream.sse").read_bytes()
    events = decoder.feed(raw) + decoder.close()
    return [(e.event, e.data if e.data == b"[DONE]" else json.loads(e.data)) for e in events]


@pytest.mark.parametrize("case", _cases("anthropic"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_anthropic_sdk_reads(case: Path) -> None:
    if (case / "expected_client_response.json").exists():
        body = json.loads((case / "expected_client_response.json").read_text())
        message = Message.model_validate(body)
        assert message.content or message.stop_reason == "refusal"
        return
    snapshot: Any = None
    bufs: dict[int, bytes] = {}
    for name, data in _events(case):
        assert name == data["type"]
        if name == "error":
            assert data["error"]["type"] and data["error"]["message"]
            return
        event = construct_type(type_=RawMessageStreamEvent, value=data)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=bufs)
    assert snapshot is not None and snapshot.stop_reason is not None
    for block in snapshot.content:
        if block.type == "tool_use":
            assert isinstance(block.input, dict)


@pytest.mark.parametrize("case", _cases("openai-chat"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_openai_sdk_reads(case: Path) -> None:
    if (case / "expected_client_response.json").exists():
        body = json.loads((case / "expected_client_response.json").read_text())
        completion = ChatCompletion.model_validate(body)
        assert completion.choices[0].finish_reason
        return
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    events = _events(case)
    for _name, data in events:
        if data == b"[DONE]":
            break
        if "error" in data:
            assert data["error"]["message"]
            return
        state.handle_chunk(ChatCompletionChunk.model_validate(data))
    assert events[-1][1] == b"[DONE]"
    try:
        final = state.get_final_completion()
    except LengthFinishReasonError as exc:  # the SDK's parse helper refuses truncated answers
        final = exc.completion
    except ContentFilterFinishReasonError:  # …and filtered ones: the stream itself was read
        return
    choice = final.choices[0]
    assert choice.finish_reason
    for call in choice.message.tool_calls or []:
        if call.type == "function":
            json.loads(call.function.arguments)
