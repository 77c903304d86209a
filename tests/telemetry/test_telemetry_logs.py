"""The OTLP log handler: never blocks, bounded, safe from threads, no feedback loop."""

from __future__ import annotations

import logging

import trio
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from telemetry_exchanges import PARENT_SPAN, PARENT_TRACE

from cal.telemetry.logs import LogBuffer, OtlpLogHandler
from cal.telemetry.otlp import OtlpEncoder


def _logger(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


async def test_records_from_threads_are_queued_and_the_buffer_is_bounded() -> None:
    buffer = LogBuffer(capacity=5)
    handler = OtlpLogHandler(buffer)
    logger = _logger(handler, "cal.runtime.logs-test")
    try:
        for i in range(3):
            await trio.to_thread.run_sync(logger.warning, "from a thread %d", i)
        for i in range(4):
            logger.error("from trio %d", i)
        logger.debug("below the handler's level")
    finally:
        logger.removeHandler(handler)
    assert len(buffer) == 5 and buffer.dropped == 2
    messages = [item.message for item in buffer.take(10)]
    assert messages == [f"from a thread {i}" for i in range(3)] + ["from trio 0", "from trio 1"]
    assert len(buffer) == 0


def test_the_exporters_own_http_stack_is_not_exported() -> None:
    buffer = LogBuffer()
    handler = OtlpLogHandler(buffer)
    for name in ("httpx", "httpcore.connection", "cal.telemetry.exporter"):
        logger = _logger(handler, name)
        try:
            logger.warning("would loop")
        finally:
            logger.removeHandler(handler)
    assert len(buffer) == 0


def test_log_records_carry_exceptions_extras_and_trace_context() -> None:
    buffer = LogBuffer()
    handler = OtlpLogHandler(buffer)
    logger = _logger(handler, "cal.gateway.logs-test")
    try:
        try:
            raise ValueError("upstream said no")
        except ValueError:
            logger.exception(
                "attempt failed", extra={"trace_id": PARENT_TRACE, "span_id": PARENT_SPAN}
            )
    finally:
        logger.removeHandler(handler)
    encoder = OtlpEncoder({"service.name": "cal-test"}, "http://portal", 0)
    request = ExportLogsServiceRequest()
    request.ParseFromString(encoder.encode_logs(buffer.take(10)))
    (record,) = request.resource_logs[0].scope_logs[0].log_records
    assert record.body.string_value == "attempt failed"
    assert (record.severity_text, record.severity_number) == ("ERROR", 17)
    assert record.trace_id.hex() == PARENT_TRACE and record.span_id.hex() == PARENT_SPAN
    attrs = {kv.key: kv.value for kv in record.attributes}
    assert attrs["exception.type"].string_value == "ValueError"
    assert "upstream said no" in attrs["exception.stacktrace"].string_value
    assert attrs["logger.name"].string_value == "cal.gateway.logs-test"
