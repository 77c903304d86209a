"""The mock provider as a runtime Service: served by cal/http1 on trio until `stop` is set."""

from __future__ import annotations

import signal
from collections.abc import Callable

import trio

from cal.formats import ApiFormat
from cal.mock.app import MockProvider
from cal.mock.reply import MockOptions
from cal.serve import serve_http1


def url_host(host: str) -> str:
    """The host part of a URL for a bind address (wildcards become loopback, IPv6 bracketed)."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


class MockService:
    """Serves a MockProvider; `.provider`, `.host`, `.port` and `.url` are valid once started."""

    name = "mock"

    def __init__(
        self,
        options: MockOptions | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        graceful_timeout: float = 5.0,
    ) -> None:
        self.provider = MockProvider(options)
        self.host = host
        self.port = port
        self.graceful_timeout = graceful_timeout

    @property
    def url(self) -> str:
        """`http://HOST:PORT` of the bound server (the Anthropic and Gemini base URL)."""
        return f"http://{url_host(self.host)}:{self.port}"

    async def run(
        self, stop: trio.Event, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until `stop` is set; reports `mock provider http://HOST:PORT` once listening."""
        relay = _BoundRelay(self, task_status)
        await serve_http1(
            self.provider,
            self.host,
            self.port,
            stop,
            graceful_timeout=self.graceful_timeout,
            task_status=relay,
        )


class _BoundRelay:
    """Takes serve_http1's bound (host, port), keeps it on the service, reports the service's line.

    Serving in the caller's task (no nursery of our own) keeps a bind error such as PortInUseError
    unwrapped for whoever starts the service.
    """

    def __init__(self, service: MockService, outer: trio.TaskStatus[str]) -> None:
        self._service = service
        self._outer = outer

    def started(self, value: tuple[str, int] | None = None) -> None:
        if value is not None:
            self._service.host, self._service.port = value
        self._outer.started(f"mock provider {self._service.url}")


def base_urls(url: str) -> dict[ApiFormat, str]:
    """The base URL to configure for each API, as each SDK takes it (OpenAI adds `/v1`)."""
    return {
        "anthropic": url,
        "openai-chat": f"{url}/v1",
        "openai-responses": f"{url}/v1",
        "gemini": url,
    }


def _stop_signals() -> list[int]:
    """SIGINT, plus SIGTERM and (Windows) SIGBREAK where the platform has them."""
    names = ("SIGINT", "SIGTERM", "SIGBREAK")
    return [int(getattr(signal, name)) for name in names if hasattr(signal, name)]


async def serve_until_signal(service: MockService, announce: Callable[[str], None]) -> None:
    """Run `service` until Ctrl-C / SIGTERM, announcing its URL and per-API base URLs."""
    stop = trio.Event()
    with trio.open_signal_receiver(*_stop_signals()) as signals:
        async with trio.open_nursery() as nursery:
            announce(await nursery.start(service.run, stop))
            for fmt, url in base_urls(service.url).items():
                announce(f"  {fmt:<17} base URL {url}")
            announce(
                "Faults: X-Mock-Fault header or model suffix (see docs/mock.md). Ctrl-C stops."
            )
            async for signum in signals:
                announce(f"{signal.Signals(signum).name}: stopping")
                stop.set()
                break
