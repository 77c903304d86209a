"""A real OTLP backend users run (Arize Phoenix, from PyPI) receives cal's traces and returns
them through its own REST API."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from telemetry_exchanges import PARENT_SPAN, PARENT_TRACE, settings, streamed_exchange

from cal.telemetry import Telemetry, names as n

PHOENIX = Path(__file__).parents[2] / ".tmp/telemetry-backends/phoenix-venv/bin/phoenix"
PROJECT = "cal-telemetry-test"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PHOENIX.exists(),
        reason="Arize Phoenix is not installed (.ci/install-telemetry-backends.sh)",
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_healthy(client: httpx.AsyncClient, base: str) -> None:
    for _ in range(1200):
        try:
            if (await client.get(f"{base}/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await trio.sleep(0.1)


async def _spans(client: httpx.AsyncClient, base: str) -> list[dict[str, Any]]:
    response = await client.get(f"{base}/v1/projects/{PROJECT}/spans", params={"limit": 100})
    return list(response.json()["data"]) if response.status_code == 200 else []


async def test_phoenix_returns_cals_span_tree(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        "PATH": os.defpath,
        "HOME": str(tmp_path),
        "PHOENIX_WORKING_DIR": str(tmp_path / "phoenix"),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    base = f"http://127.0.0.1:{port}"
    cfg = settings(
        tmp_path,
        otel_enabled=True,
        otlp_traces_endpoint=f"{base}/v1/traces",
        otel_resource_attributes=f"openinference.project.name={PROJECT}",
    )
    telemetry = Telemetry(cfg, flush_interval=0.1, metrics_interval=3600)
    log = (tmp_path / "phoenix.log").open("wb")
    command = [str(PHOENIX), "serve"]
    process = await trio.lowlevel.open_process(
        command, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        with trio.fail_after(150):
            async with httpx.AsyncClient(trust_env=False) as client:
                await _wait_healthy(client, base)
                spans: list[dict[str, Any]] = []
                async with trio.open_nursery() as nursery:
                    stop = trio.Event()
                    await nursery.start(telemetry.run, stop)
                    telemetry.submit_nowait(streamed_exchange())
                    for _ in range(600):
                        spans = await _spans(client, base)
                        if len(spans) >= 10:
                            break
                        await trio.sleep(0.2)
                    stop.set()
    finally:
        process.terminate()
        with trio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
    assert len(spans) == 10, (tmp_path / "phoenix.log").read_text(errors="replace")[-3000:]
    root = next(s for s in spans if s["name"] == "POST /v1/messages")
    assert root["context"]["trace_id"] == PARENT_TRACE
    assert root["parent_id"] == PARENT_SPAN
    assert root["attributes"][n.OBS_REF] == f"{PARENT_TRACE}/req_0001"
    assert root["status_code"] == "OK"
    attempts = [s for s in spans if s["name"] == "chat gpt-4o-mini"]
    assert {s["parent_id"] for s in attempts} == {root["context"]["span_id"]}
    assert telemetry.statistics().spans_exported == 10
