"""The real Prometheus server (Debian's `prometheus`) scrapes Telemetry.metrics_payload()."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from telemetry_exchanges import settings, streamed_exchange

from cal.serve import serve_asgi
from cal.telemetry import Telemetry

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="the prometheus server is not installed (.ci/install-telemetry-backends.sh)",
    ),
]


class MetricsApp:
    """The portal's `/metrics` route, reduced to what this test needs."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, content_type = self.telemetry.metrics_payload()
        headers = [(b"content-type", content_type.encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _query(client: httpx.AsyncClient, url: str, promql: str) -> list[Any]:
    response = await client.get(url, params={"query": promql})
    if response.status_code != 200:
        return []
    return list(response.json()["data"]["result"])


async def test_prometheus_scrapes_the_request_counter(tmp_path: Path) -> None:
    telemetry = Telemetry(settings(tmp_path))
    prom_port = _free_port()
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            stop = trio.Event()
            await nursery.start(telemetry.run, stop)
            for i in range(3):
                telemetry.submit_nowait(streamed_exchange(f"req_{i}"))
            host, port = await nursery.start(
                serve_asgi, MetricsApp(telemetry), "127.0.0.1", 0, stop
            )
            config = tmp_path / "prometheus.yml"
            config.write_text(
                "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "scrape_configs:\n"
                f"  - job_name: cal\n    static_configs: [{{targets: ['{host}:{port}']}}]\n",
                encoding="utf-8",
            )
            command = [
                str(PROMETHEUS),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ]
            log = (tmp_path / "prometheus.log").open("wb")
            process = await trio.lowlevel.open_process(
                command, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                url = f"http://127.0.0.1:{prom_port}/api/v1/query"
                promql = 'sum(code_agent_lens_proxy_requests_total{job="cal",endpoint="backup"})'
                async with httpx.AsyncClient(trust_env=False) as client:
                    result: list[Any] = []
                    for _ in range(200):
                        try:
                            result = await _query(client, url, promql)
                        except httpx.TransportError:
                            result = []
                        if result:
                            break
                        await trio.sleep(0.25)
                assert result, (tmp_path / "prometheus.log").read_text(errors="replace")[-2000:]
                assert float(result[0]["value"][1]) == 3
            finally:
                process.terminate()
                with trio.move_on_after(5):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                log.close()
                stop.set()
