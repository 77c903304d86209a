"""docs/observability.md and docs/jaeger-ui-config.json stay in sync with what the code emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote, unquote

from telemetry_exchanges import streamed_exchange

from cal.telemetry import names as n
from cal.telemetry.attributes import request_attributes

DOCS = Path(__file__).parents[2] / "docs"
DOC = (DOCS / "observability.md").read_text(encoding="utf-8")
METRIC_ONLY_KEYS = {n.GEN_AI_TOKEN_TYPE}


def _section(name: str) -> str:
    return DOC.split(f"<!-- {name}:begin -->")[1].split(f"<!-- {name}:end -->")[0]


def _first_cells(name: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", _section(name), flags=re.MULTILINE))


def _expected_metric_rows() -> list[str]:
    rows = [
        "| OTLP name | Prometheus name | kind | unit | labels | what |",
        "|---|---|---|---|---|---|",
    ]
    for s in n.METRICS:
        labels = ", ".join(f"`{label}`" for label in s.labels)
        rows.append(
            f"| `{s.name}` | `{s.prometheus_name}` | {s.kind} | `{s.unit}` | {labels} "
            f"| {s.description} |"
        )
    return rows


def test_metric_table_matches_the_declared_instruments() -> None:
    assert _section("metrics").strip().splitlines() == _expected_metric_rows()


def test_attribute_table_lists_exactly_the_span_attribute_keys() -> None:
    declared = {
        value
        for key, value in vars(n).items()
        if key.isupper() and isinstance(value, str) and not key.startswith("SPAN_")
    } - METRIC_ONLY_KEYS
    assert _first_cells("attributes") == declared


def test_span_table_lists_every_span_name() -> None:
    declared = {v for k, v in vars(n).items() if k.startswith("SPAN_") and isinstance(v, str)}
    assert _first_cells("spans") == declared | {"{method} {route}", "{operation} {model}"}


def test_jaeger_link_patterns_open_the_portal_pages() -> None:
    config = json.loads((DOCS / "jaeger-ui-config.json").read_text(encoding="utf-8"))
    exchange = streamed_exchange()
    tags = request_attributes(exchange, "http://127.0.0.1:3011/debug/obs", 0)
    values = {**tags, "traceID": exchange.trace_id}

    def supplant(match: re.Match[str]) -> str:
        # Jaeger UI substitutes #{name} with encodeURIComponent(value)
        return quote(str(values[match[1]]), safe="")

    links = {}
    for pattern in config["linkPatterns"]:
        url = re.sub(r"#\{([^{}]*)\}", supplant, pattern["url"])
        links[pattern.get("key", pattern["type"])] = unquote(url)
    trace, request = exchange.trace_id, exchange.request_id
    assert links[n.OBS_REF] == f"http://127.0.0.1:3011/debug/obs/ref/{trace}/{request}"
    assert links[n.OBS_VIEWER_URL] == tags[n.OBS_VIEWER_URL]
    assert links["traces"] == f"http://127.0.0.1:3011/debug/obs/trace/{trace}"
