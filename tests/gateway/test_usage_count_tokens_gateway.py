"""count_tokens through the gateway on an endpoint that cannot count: estimated, flagged, and
calibrated from the real input tokens of a later call."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import msgspec
import trio

from cal.capture.model import Exchange
from cal.config import Settings
from cal.mock import MockOptions
from cal.mock.service import MockService, base_urls
from cal.routing.model import Endpoint
from cal.runtime import Runtime, run_runtime

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


async def test_estimates_are_flagged_and_learn(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime(make_settings())
    recorder = Recorder()
    runtime.sinks.append(recorder)
    mock = MockService(MockOptions(), host="127.0.0.1", port=0)
    stop_mock, ready = trio.Event(), trio.Event()
    answers: list[httpx.Response] = []

    async def drive(rt: Runtime) -> None:
        await ready.wait()
        async with httpx.AsyncClient(base_url=rt.listeners["gateway"], timeout=30) as client:
            count = "/v1/messages/count_tokens"
            answers.append(await client.post(count, content=_body(False)))
            answers.append(await client.post("/v1/messages", content=_body(True)))
            answers.append(await client.post(count, content=_body(False)))
        rt.stop.set()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.run, stop_mock)
            url = base_urls(mock.url)["openai-chat"]
            runtime.registry.set_stored([Endpoint("chat", url, "openai-chat")], None)
            nursery.start_soon(drive, runtime)
            await run_runtime(
                runtime, endpoint_source=None, on_ready=lambda _: ready.set(), report=lambda _: None
            )
            stop_mock.set()

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


async def test_forwarded_counts_teach_the_estimate(make_settings: Callable[..., Settings]) -> None:
    runtime = Runtime(make_settings())
    mock = MockService(MockOptions(), host="127.0.0.1", port=0)
    stop_mock, ready = trio.Event(), trio.Event()
    answers: list[httpx.Response] = []

    async def drive(rt: Runtime) -> None:
        await ready.wait()
        count = "/v1/messages/count_tokens"
        async with httpx.AsyncClient(base_url=rt.listeners["gateway"], timeout=30) as client:
            for pin in ("chat", "anth", "chat"):
                headers = {"x-cal-endpoint": pin}
                answers.append(await client.post(count, content=_body(False), headers=headers))
        rt.stop.set()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(mock.run, stop_mock)
            urls = base_urls(mock.url)
            endpoints = [
                Endpoint("chat", urls["openai-chat"], "openai-chat", priority=1),
                Endpoint("anth", urls["anthropic"], "anthropic", priority=2),
            ]
            runtime.registry.set_stored(endpoints, None)
            nursery.start_soon(drive, runtime)
            await run_runtime(
                runtime, endpoint_source=None, on_ready=lambda _: ready.set(), report=lambda _: None
            )
            stop_mock.set()

    before, forwarded, after = answers
    assert "x-cal-token-count" not in forwarded.headers  # the upstream counted
    assert before.headers["x-cal-token-count"] == after.headers["x-cal-token-count"] == "estimated"
    real = forwarded.json()["input_tokens"]
    assert real < after.json()["input_tokens"] < before.json()["input_tokens"]
