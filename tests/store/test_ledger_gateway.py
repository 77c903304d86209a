"""End to end: requests through the real gateway land in the ledger, and in the status API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import msgspec
import trio

from cal.capture.model import Exchange
from cal.config import Settings
from cal.runtime import Runtime
from cal.store.db import Database
from cal.store.ledger import NANO, exchange_cost, grouped_totals
from cal.store.ledger_service import UsageLedger

REQUESTS = 40


class Recorder:
    """A sink keeping every exchange, to check the ledger against."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def submit_nowait(self, exchange: Exchange) -> bool:
        self.exchanges.append(exchange)
        return True


def _body(n: int) -> bytes:
    return msgspec.json.encode(
        {
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 32,
            "stream": n % 2 == 0,
            "messages": [{"role": "user", "content": f"request number {n} " + "word " * n}],
        }
    )


async def _send_all(url: str) -> list[int]:
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(n: int) -> None:
            path = "/claude/v1/messages" if n % 4 == 0 else "/v1/messages"
            response = await client.post(
                path, content=_body(n), headers={"x-api-key": "sk-ant-api03-" + "k" * 40}
            )
            statuses.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for n in range(REQUESTS):
                nursery.start_soon(one, n)
    return statuses


async def test_gateway_requests_are_accounted(
    make_settings: Callable[..., Settings], run_against_mock: Callable[..., Awaitable[None]]
) -> None:
    settings = make_settings()
    runtime = Runtime(settings)
    recorder = Recorder()
    ledger = UsageLedger(settings.db_path)
    runtime.sinks += [recorder, ledger]
    runtime.sink_services.append(ledger)
    runtime.usage_today = ledger.today
    statuses: list[int] = []
    status: dict[str, object] = {}

    async def drive(rt: Runtime) -> None:
        statuses.extend(await _send_all(rt.listeners["gateway"]))
        with trio.fail_after(10):
            while ledger.statistics().recorded < REQUESTS:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.01)
        status.update(rt.status())

    await run_against_mock(runtime, drive)

    assert statuses == [200] * REQUESTS
    exchanges = recorder.exchanges
    assert len(exchanges) == REQUESTS
    assert all(x.usage.source == "upstream" for x in exchanges)
    costs = [exchange_cost(x) for x in exchanges]
    assert all(c is not None and c > 0 for c in costs)
    want_input = sum(x.usage.input_tokens for x in exchanges)
    want_output = sum(x.usage.output_tokens for x in exchanges)
    want_cost = sum(round(c * NANO) for c in costs if c is not None)
    db = Database.open(settings.db_path)
    with db.read() as conn:
        rows = grouped_totals(conn, ("endpoint", "source_tag"))
    db.close()
    by_tag = {(k["endpoint"], k["source_tag"]): t for k, t in rows}
    assert set(by_tag) == {("mock", ""), ("mock", "claude")}
    assert by_tag[("mock", "claude")].requests == REQUESTS // 4
    assert sum(t.requests for t in by_tag.values()) == REQUESTS
    assert sum(t.input_tokens for t in by_tag.values()) == want_input
    assert sum(t.output_tokens for t in by_tag.values()) == want_output
    assert sum(t.cost_nano_usd for t in by_tag.values()) == want_cost
    sinks = status["sinks"]
    assert isinstance(sinks, dict)
    assert sinks["ledger"]["today"]["requests"] == REQUESTS
    usage = status["usage"]
    assert isinstance(usage, dict)
    assert usage["requests"] == REQUESTS
    assert usage["input_tokens"] == want_input
    assert usage["cost_usd"] == round(want_cost / NANO, 9)


async def test_the_runtime_wiring_attaches_the_ledger(
    make_settings: Callable[..., Settings],
) -> None:
    from cal.runtime.wiring import prepare

    runtime = Runtime(make_settings())
    await prepare(runtime)
    try:
        ledgers = [s for s in runtime.sinks if isinstance(s, UsageLedger)]
        assert len(ledgers) == 1
        assert ledgers[0] in runtime.sink_services
        assert ledgers[0].db_path == runtime.settings.db_path
        assert runtime.usage_today == ledgers[0].today
        assert runtime.status()["usage"]["requests"] == 0
    finally:
        for close in runtime.closers:
            close()
