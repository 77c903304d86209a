"""Golden fixtures per route: client request → upstream request, upstream answer → client answer.

Layout and conventions: tests/transform/README.md. Regenerate the expected files with
`CAL_REGEN_GOLDEN=1 .venv/bin/pytest tests/transform/test_transform_golden.py` and review the
diff by eye before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cal.formats import parse_format
from cal.sse import SSEDecoder
from cal.transform import RouteUnavailable, TranslationContext, lookup

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transform"
REGEN = os.environ.get("CAL_REGEN_GOLDEN") == "1"
NOW = 1795272466


def _scenarios() -> list[Path]:
    if not FIXTURES.is_dir():
        return []
    return sorted(p for p in FIXTURES.glob("*_via_*/*") if (p / "client_request.json").exists())


def _meta(case: Path) -> dict[str, Any]:
    path = case / "meta.json"
    return json.loads(path.read_text()) if path.exists() else {}


def make_context(case: Path, body: dict[str, Any]) -> TranslationContext:
    """The fixed context a scenario runs with (ids and clock deterministic)."""
    meta = _meta(case)
    counter = iter(range(1, 10_000))
    return TranslationContext(
        request_id="req",
        client_model=meta.get("client_model") or body.get("model") or "client-model",
        upstream_model=meta.get("upstream_model", "upstream-model"),
        stream=bool(meta.get("stream", body.get("stream", False))),
        now=lambda: NOW,
        new_id=lambda prefix: f"{prefix}gold{next(counter)}",
    )


def _check_json(case: Path, name: str, actual: Any) -> None:
    path = case / name
    if REGEN or not path.exists():
        path.write_text(json.dumps(actual, indent=1, ensure_ascii=False) + "\n")
        return
    assert actual == json.loads(path.read_text()), f"{case.name}: {name} differs"


def _check_text(case: Path, name: str, actual: str) -> None:
    path = case / name
    if REGEN or not path.exists():
        path.write_text(actual)
        return
    assert actual == path.read_text(), f"{case.name}: {name} differs"


def _run_stream(case: Path, route: Any, ctx: TranslationContext) -> str:
    translator = route.stream_translator(ctx)
    decoder = SSEDecoder()
    out: list[bytes] = []
    for event in decoder.feed((case / "upstream_stream.sse").read_bytes()) + decoder.close():
        out += translator.feed(event)
    ending = _meta(case).get("stream_end", "finish")
    if ending == "finish":
        out += translator.finish()
    else:
        out += translator.fail(ending["kind"], ending["message"])
    return b"".join(out).decode()


@pytest.mark.parametrize("case", _scenarios(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden(case: Path) -> None:
    client_name, _, upstream_name = case.parent.name.partition("_via_")
    try:
        route = lookup(parse_format(client_name), parse_format(upstream_name))
    except RouteUnavailable as exc:
        pytest.skip(str(exc))
    raw_request = (case / "client_request.json").read_bytes()
    ctx = make_context(case, json.loads(raw_request))
    upstream_request = route.translate_request(raw_request, ctx)
    _check_json(case, "expected_upstream_request.json", json.loads(upstream_request))
    meta = _meta(case)
    if "upstream_status" in meta:
        body = (case / "upstream_response.json").read_bytes()
        status, client_body = route.translate_error(meta["upstream_status"], body, ctx)
        _check_json(
            case, "expected_client_error.json", {"status": status, "body": json.loads(client_body)}
        )
    elif (case / "upstream_stream.sse").exists():
        _check_text(case, "expected_client_stream.sse", _run_stream(case, route, ctx))
    else:
        body = route.translate_response((case / "upstream_response.json").read_bytes(), ctx)
        _check_json(case, "expected_client_response.json", json.loads(body))
    _check_json(case, "expected_notes.json", ctx.notes)


def test_fixtures_exist() -> None:
    assert _scenarios(), "no golden fixtures found"
