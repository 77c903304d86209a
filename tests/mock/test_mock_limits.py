"""An output limit below the answer's length cuts the text and stops for max tokens, per API."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import trio

from cal.mock.reply import MockOptions, Turn, plan_reply

TEXT = "Hello from the cal mock provider. You said: a long enough question"


def test_plan_cuts_text_at_the_limit() -> None:
    turn = Turn(model="m", last_user_text="a long enough question", max_output_tokens=3)
    reply = plan_reply(turn, MockOptions(), rid="r", created=0)
    assert reply.truncated
    assert reply.text == TEXT[:12]
    assert reply.usage.output == 3
    roomy = plan_reply(
        Turn(model="m", last_user_text="a long enough question", max_output_tokens=100),
        MockOptions(),
        rid="r",
        created=0,
    )
    assert not roomy.truncated and roomy.text == TEXT


async def _in_thread(fn: Any) -> Any:
    with trio.fail_after(20):
        return await trio.to_thread.run_sync(fn)


async def test_anthropic_stops_for_max_tokens(served: Any) -> None:
    def call() -> Any:
        client = anthropic.Anthropic(base_url=served.url, api_key="k", max_retries=0)
        with client.messages.stream(
            model="m",
            max_tokens=3,
            messages=[{"role": "user", "content": "a long enough question"}],
        ) as stream:
            return stream.get_final_message()

    message = await _in_thread(call)
    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == TEXT[:12]


async def test_chat_finishes_with_length(served: Any) -> None:
    def call() -> Any:
        client = openai.OpenAI(base_url=served.openai_url, api_key="k", max_retries=0)
        return client.chat.completions.create(
            model="m",
            max_completion_tokens=3,
            messages=[{"role": "user", "content": "a long enough question"}],
        )

    completion = await _in_thread(call)
    assert completion.choices[0].finish_reason == "length"


async def test_responses_end_incomplete(served: Any) -> None:
    def call() -> list[str]:
        client = openai.OpenAI(base_url=served.openai_url, api_key="k", max_retries=0)
        with client.responses.stream(
            model="m", max_output_tokens=3, input="a long enough question"
        ) as stream:
            return [event.type for event in stream]

    kinds = await _in_thread(call)
    assert kinds[-1] == "response.incomplete"
    assert "response.completed" not in kinds

    def create() -> Any:
        client = openai.OpenAI(base_url=served.openai_url, api_key="k", max_retries=0)
        return client.responses.create(
            model="m", max_output_tokens=3, input="a long enough question"
        )

    response = await _in_thread(create)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == TEXT[:12]


async def test_gemini_finishes_with_max_tokens(served: Any) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "a long enough question"}]}],
        "generationConfig": {"maxOutputTokens": 3},
    }
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=served.url) as client:
            response = await client.post("/v1beta/models/m:generateContent", json=body)
    candidate = response.json()["candidates"][0]
    assert candidate["finishReason"] == "MAX_TOKENS"
    assert candidate["content"]["parts"][0]["text"] == TEXT[:12]
