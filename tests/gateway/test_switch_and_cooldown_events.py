"""Endpoint switches made elsewhere and credential cooldowns are reported (for the metrics)."""

from __future__ import annotations

import trio

from cal.gateway.health import RouteHealth
from cal.gateway.registry import EndpointRegistry, EndpointWatcher
from cal.routing.model import Endpoint

A = Endpoint("a", "http://127.0.0.1:1", "anthropic")
B = Endpoint("b", "http://127.0.0.1:2", "anthropic")


def test_cooldowns_and_rejections_are_reported() -> None:
    seen: list[tuple[str, str]] = []
    health = RouteHealth(clock=lambda: 100.0, on_cooldown=lambda e, r: seen.append((e, r)))
    health.cool("a", "cred-1", 130.0, "429")
    health.take_out("a", "cred-2", "the upstream answered 401")
    assert seen == [("a", "rate_limited"), ("a", "rejected")]


async def test_a_switch_made_elsewhere_is_reported_once() -> None:
    state = {"version": 1, "active": "a"}
    switched: list[str] = []

    def load() -> tuple[int, list[Endpoint], str | None]:
        return int(state["version"]), [A, B], str(state["active"])

    registry = EndpointRegistry()
    watcher = EndpointWatcher(
        registry, load, lambda: int(state["version"]), interval_s=0.01, on_switch=switched.append
    )
    stop = trio.Event()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(watcher.run, stop)
            assert registry.snapshot.active == "a"
            state.update(version=2, active="b")
            while registry.snapshot.active != "b":  # noqa: ASYNC110 - polling the watcher's output
                await trio.sleep(0.01)
            state.update(version=3)  # a commit that changes nothing (a request-index row)
            await trio.sleep(0.05)
            stop.set()
    assert switched == ["b"]
