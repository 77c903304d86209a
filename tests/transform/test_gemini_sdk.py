"""The google-genai SDK judges what Gemini clients get: every golden output for a Gemini client
parses as `GenerateContentResponse` (chunk by chunk for streams), with text, whole function calls,
a final finishReason and usage, and errors in Google's shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from cal.sse import SSEDecoder

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transform"
STREAMS = sorted(FIXTURES.glob("gemini_via_*/*/expected_client_stream.sse"))
BODIES = sorted(FIXTURES.glob("gemini_via_*/*/expected_client_response.json"))
ERRORS = sorted(FIXTURES.glob("gemini_via_*/*/expected_client_error.json"))


def _case(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.parent.name}"


def _chunks(path: Path) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    events = decoder.feed(path.read_bytes()) + decoder.close()
    assert all(ev.event is None for ev in events), "Gemini SSE has data lines only"
    return [json.loads(ev.data) for ev in events]


def _visible_text(response: types.GenerateContentResponse) -> str:
    parts = response.candidates[0].content.parts if response.candidates else None
    return "".join(p.text or "" for p in parts or [] if not p.thought)


def _check_usage(usage: types.GenerateContentResponseUsageMetadata | None) -> None:
    assert usage is not None
    total = (usage.prompt_token_count or 0) + (usage.candidates_token_count or 0)
    assert usage.total_token_count == total + (usage.thoughts_token_count or 0)


@pytest.mark.parametrize("path", STREAMS, ids=_case)
def test_stream_is_accepted_by_the_sdk(path: Path) -> None:
    chunks = _chunks(path)
    if "error" in chunks[-1]:
        error = chunks[-1]["error"]
        assert set(error) == {"code", "message", "status"}
        assert error["code"] in (500, 503)
        chunks = chunks[:-1]
    else:
        final = types.GenerateContentResponse.model_validate(chunks[-1])
        assert final.candidates and final.candidates[0].finish_reason is not None
        _check_usage(final.usage_metadata)
    for chunk in chunks:
        response = types.GenerateContentResponse.model_validate(chunk)
        assert response.candidates and response.candidates[0].content is not None
        for call in response.function_calls or []:
            assert call.name and isinstance(call.args, dict) and call.id


@pytest.mark.parametrize("path", BODIES, ids=_case)
def test_body_is_accepted_by_the_sdk(path: Path) -> None:
    response = types.GenerateContentResponse.model_validate(json.loads(path.read_text()))
    assert response.candidates
    assert response.candidates[0].finish_reason in (
        types.FinishReason.STOP,
        types.FinishReason.MAX_TOKENS,
    )
    _check_usage(response.usage_metadata)
    assert _visible_text(response) or response.function_calls


@pytest.mark.parametrize("path", ERRORS, ids=_case)
def test_error_has_google_shape(path: Path) -> None:
    error = json.loads(path.read_text())
    body = error["body"]["error"]
    assert error["status"] == body["code"]
    assert body["status"] in ("RESOURCE_EXHAUSTED", "INTERNAL")


def test_stream_text_matches_across_upstreams() -> None:
    texts = {
        path.parent.parent.name: "".join(
            _visible_text(types.GenerateContentResponse.model_validate(c))
            for c in _chunks(path)
            if "error" not in c
        )
        for path in STREAMS
        if path.parent.name == "text_stream"
    }
    assert len(texts) == 3
    assert set(texts.values()) == {"Hello! How can I help?"}
