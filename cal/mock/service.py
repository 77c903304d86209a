"""The mock provider as a runtime Service: served with hypercorn on trio until `stop` is set."""

from __future__ import annotations

import trio

from cal.mock.app import MockProvider
from cal.mock.reply import MockOptions
from cal.serve import serve_asgi


def url_host(host: str) -> str:
    """The host part of a URL for a bind address (wildcards become loopback, IPv6 bracketed)."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class MockService:
    """Serves a MockProvider; `.provider`, `.host`, `.port` and `.url` are valid once started."""

    name = "mock"

    def __init__(
        self, options: MockOptions | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.provider = MockProvider(options)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """`http://HOST:PORT` of the bound server (the Anthropic and Gemini base URL)."""
        return f"http://{url_host(self.host)}:{self.port}"

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until `stop` is set; reports `mock provider http://HOST:PORT` once listening."""
        async with trio.open_nursery() as nursery:
            self.host, self.port = await nursery.start(
                serve_asgi, self.provider, self.host, self.port, stop
            )
            task_status.started(f"mock provider {self.url}")
