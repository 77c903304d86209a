"""Telemetry as a sink of the real gateway: a request with a traceparent, through the mock
provider, becomes a span tree at a real OTLP/HTTP receiver."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import trio
from telemetry_exchanges import PARENT_SPAN, PARENT_TRACE, settings
from telemetry_receiver import OtlpReceiver, attributes

from cal.mock import MockOptions
from cal.mock.service import MockService
from cal.routing.model import Endpoint
from cal.runtime import Runtime, run_runtime
from cal.serve import serve_asgi
from cal.telemetry import Telemetry, names as n

BODY = msgspec.json.encode(
    {
        "model": "claude-e2e",
        "max_tokens": 32,
        "stream": True,
        "messages": [{"role": "user", "content": "hello"}],
    }
)


async def test_a_gateway_request_continues_the_callers_trace(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            stop_others = trio.Event()
            host, port = await nursery.start(serve_asgi, receiver, "127.0.0.1", 0, stop_others)
            mock = MockService(MockOptions(chunks=4), host="127.0.0.1", port=0)
            await nursery.start(mock.run, stop_others)
            cfg = settings(
                tmp_path,
                otel_enabled=True,
                otlp_endpoint=f"http://{host}:{port}",
                gateway_port=0,
                portal_port=0,
                dump_enabled=False,
                shutdown_grace_s=1.0,
            )
            runtime = Runtime(cfg)
            telemetry = Telemetry(cfg, run_id=runtime.run_id, flush_interval=0.05)
            runtime.sinks.append(telemetry)
            runtime.sink_services.append(telemetry)
            ready = trio.Event()
            async with trio.open_nursery() as inner:
                inner.start_soon(
                    lambda: run_runtime(
                        runtime,
                        endpoint_source=None,
                        on_ready=lambda _: ready.set(),
                        report=lambda _: None,
                    )
                )
                await ready.wait()
                runtime.registry.set_stored([Endpoint("mock", mock.url, "anthropic")], None)
                headers = {
                    "content-type": "application/json",
                    "anthropic-version": "2023-06-01",
                    "x-api-key": "sk-test-secret",
                    "traceparent": f"00-{PARENT_TRACE}-{PARENT_SPAN}-01",
                }
                url = runtime.listeners["gateway"] + "/claude/v1/messages"
                async with httpx.AsyncClient(trust_env=False) as client:
                    response = await client.post(url, content=BODY, headers=headers)
                assert response.status_code == 200
                request_id = response.headers["x-cal-request-id"]
                await receiver.arrived.wait()
                runtime.stop.set()
            stop_others.set()
    spans = receiver.spans()
    (root,) = [s for s in spans if s.kind == 2]
    assert root.trace_id.hex() == PARENT_TRACE and root.parent_span_id.hex() == PARENT_SPAN
    assert root.name == "POST /v1/messages"
    attrs = attributes(root)
    assert attrs[n.OBS_REF] == f"{PARENT_TRACE}/{request_id}"
    assert attrs[n.REQUEST_ID] == request_id
    assert attrs[n.RUN_ID] == runtime.run_id
    assert attrs[n.SOURCE_TAG] == "claude"
    assert attrs[n.OUTCOME] == "ok"
    assert attrs[n.GEN_AI_PROVIDER_NAME] == "anthropic"
    (attempt,) = [s for s in spans if s.kind == 3]
    assert attempt.parent_span_id == root.span_id
    assert attributes(attempt)[n.ENDPOINT] == "mock"
    assert all(s.trace_id == root.trace_id for s in spans)
    assert not any("sk-test-secret" in str(v) for s in spans for v in attributes(s).values())
    body, _ = telemetry.metrics_payload()
    assert b"code_agent_lens_proxy_requests_total{client=" in body
