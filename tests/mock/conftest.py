"""Fixtures for the mock provider tests: a MockProvider served on 127.0.0.1 port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio

from cal.mock import MockOptions, MockProvider
from cal.serve import serve_asgi


class Served:
    """A provider being served: `.provider`, `.url` (Anthropic/Gemini base), `.openai_url`."""

    def __init__(self, provider: MockProvider, host: str, port: int) -> None:
        self.provider = provider
        self.url = f"http://{host}:{port}"
        self.openai_url = f"{self.url}/v1"


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """A MockProvider with chunks=4 served for the test, stopped after it."""
    stop = trio.Event()
    provider = MockProvider(MockOptions(chunks=4))
    async with trio.open_nursery() as nursery:
        with trio.fail_after(10):
            host, port = await nursery.start(serve_asgi, provider, "127.0.0.1", 0, stop)
        yield Served(provider, host, port)
        stop.set()
