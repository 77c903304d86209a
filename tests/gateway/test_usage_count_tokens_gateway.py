"""count_tokens through the gateway on an endpoint that cannot count: estimated, flagged, and
calibrated from the real input tokens of a later call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import msgspec

from cal.capture.model import Exchange
from cal.config import Settings
from cal.routing.model import Endpoint
from cal.runtime import Runtime

MODEL = "claude-sonnet-4-5-20250929"


class Recorder:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def submit_nowait(self, exchange: Exchange) -> bool:
        self.exchanges.append(exchange)
        return True


def _body(max_tokens: bool) -> bytes:
    text = "please review this function and explain what it does " * 200
    payload: dict[str, object] = {"model": MODEL, "messages": [{"role": "user", "content": text}]}
    if max_tokens:
        payload["max_tokens"] = 64
    return msgspec.json.encode(payload)


async def test_estimates_are_flagged_and_learn(
    make_settings: Callable[..., Settings], run_against_mock: Callable[..., Awaitable[None]]
) -> None:
    runtime = Runtime(make_settings())
    recorder = Recorder()
    runtime.sinks.append(recorder)
    answers: list[httpx.Response] = []

    async def drive(rt: Runtime) -> None:
        async with httpx.AsyncClient(base_url=rt.listeners["gateway"], timeout=30) as client:
            count = "/v1/messages/count_tokens"
            answers.append(await client.post(count, content=_body(False)))
            answers.append(await client.post("/v1/messages", content=_body(True)))
            answers.append(await client.post(count, content=_body(False)))

    def chat(urls: dict[str, str]) -> list[Endpoint]:
        return [Endpoint("chat", urls["openai-chat"], "openai-chat")]

    await run_against_mock(runtime, drive, endpoints=chat, limit_s=30)

    before, _call, after = answers
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert before.headers["x-cal-token-count"] == "estimated"
    assert after.headers["x-cal-token-count"] == "estimated"
    first, real_call, second = recorder.exchanges
    assert first.usage.source == second.usage.source == "estimated"
    assert real_call.usage.source == "upstream"
    assert real_call.cost_usd is not None and real_call.cost_usd > 0
    real = real_call.usage.input_tokens + real_call.usage.cache_read_tokens
    estimate_before = before.json()["input_tokens"]
    estimate_after = after.json()["input_tokens"]
    assert estimate_after != estimate_before  # learnt from the real call…
    assert estimate_after >= real  # …and still on the high side


async def test_forwarded_counts_teach_the_estimate(
    make_settings: Callable[..., Settings], run_against_mock: Callable[..., Awaitable[None]]
) -> None:
    runtime = Runtime(make_settings())
    answers: list[httpx.Response] = []

    async def drive(rt: Runtime) -> None:
        count = "/v1/messages/count_tokens"
        async with httpx.AsyncClient(base_url=rt.listeners["gateway"], timeout=30) as client:
            for pin in ("chat", "anth", "chat"):
                headers = {"x-cal-endpoint": pin}
                answers.append(await client.post(count, content=_body(False), headers=headers))

    def chat_then_anthropic(urls: dict[str, str]) -> list[Endpoint]:
        return [
            Endpoint("chat", urls["openai-chat"], "openai-chat", priority=1),
            Endpoint("anth", urls["anthropic"], "anthropic", priority=2),
        ]

    await run_against_mock(runtime, drive, endpoints=chat_then_anthropic, limit_s=30)

    before, forwarded, after = answers
    assert "x-cal-token-count" not in forwarded.headers  # the upstream counted
    assert before.headers["x-cal-token-count"] == after.headers["x-cal-token-count"] == "estimated"
    real = forwarded.json()["input_tokens"]
    assert real < after.json()["input_tokens"] < before.json()["input_tokens"]
