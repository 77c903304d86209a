"""The Gemini codec: `generateContent` bodies and `streamGenerateContent?alt=sse` streams ⇄ IR.

Requests: `gemini_request` (client side) and `gemini_render` (upstream side); streams:
`gemini_stream`. This module parses and renders non-stream responses, maps finish reasons
(protocols.md §3.5: `STOP` with a function call in the turn is `tool_use`) and usage (§3.6: Gemini's
prompt count includes cache, its candidates count excludes thoughts), reads Gemini errors and
exposes `CODEC`. Shared part/usage helpers are in `gemini_parts`.
"""

from __future__ import annotations

import msgspec

from cal.formats.errors import ErrorKind, kind_for_status
from cal.transform import Codec, TranslationContext
from cal.transform.common import arr, decode_object, obj
from cal.transform.gemini_parts import (
    PartReader,
    client_parts,
    error_kind,
    finish_reason_of,
    parse_usage,
    stop_reason_of,
    usage_json,
)
from cal.transform.gemini_render import render_request
from cal.transform.gemini_request import ORIGIN, parse_request
from cal.transform.gemini_stream import GeminiStreamParser, GeminiStreamRenderer
from cal.transform.ir import (
    Part,
    Response,
    Text,
    Thinking,
)


def _merge_texts(parts: list[Part]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        last = out[-1] if out else None
        if isinstance(part, Text) and isinstance(last, Text):
            out[-1] = Text(text=last.text + part.text)
        elif isinstance(part, Thinking) and isinstance(last, Thinking) and _joinable(last, part):
            out[-1] = Thinking(text=last.text + part.text, signature=part.signature, origin=ORIGIN)
        else:
            out.append(part)
    return out


def _joinable(a: Thinking, b: Thinking) -> bool:
    return a.origin == b.origin == ORIGIN and bool(a.text) and bool(b.text) and not a.signature


def parse_response(body: bytes, ctx: TranslationContext) -> Response:
    """A Gemini upstream body → IR response."""
    doc = decode_object(body, "upstream response")
    response_id = str(doc.get("responseId") or "")
    reader = PartReader(response_id, ctx)
    candidates = arr(doc.get("candidates"))
    first = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts: list[Part] = []
    for part in obj(first.get("content")).get("parts") or []:
        if isinstance(part, dict):
            parts += reader.read(part)
    block = obj(doc.get("promptFeedback")).get("blockReason")
    stop = stop_reason_of(first.get("finishReason"), reader.calls > 0, ctx)
    if block:
        stop = "refusal"
    return Response(
        id=response_id,
        model=str(doc.get("modelVersion") or ""),
        content=_merge_texts(parts),
        stop_reason=stop,
        usage=parse_usage(doc.get("usageMetadata")),
    )


def render_response(resp: Response, ctx: TranslationContext) -> bytes:
    """IR response → Gemini client body (`modelVersion` = the client's model)."""
    doc = {
        "candidates": [
            {
                "content": {"role": "model", "parts": client_parts(resp.content, ctx)},
                "finishReason": finish_reason_of(resp.stop_reason),
                "index": 0,
            }
        ],
        "usageMetadata": usage_json(resp.usage),
        "modelVersion": ctx.client_model,
        "responseId": ctx.make_id("resp_"),
    }
    return msgspec.json.encode(doc)


def parse_error(status: int, body: bytes) -> tuple[ErrorKind, str]:
    """A Gemini error body (`{"error":…}` or `[{"error":…}]`) → (kind, message); never raises."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body.decode("utf-8", "replace")[:500]
        return kind_for_status(status), text or f"upstream status {status}"
    if isinstance(doc, list) and doc:
        doc = doc[0]
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return kind_for_status(status), f"upstream status {status}"
    return error_kind(error, status), str(error.get("message") or f"upstream status {status}")


CODEC = Codec(
    format=ORIGIN,
    parse_request=parse_request,
    render_request=render_request,
    parse_response=parse_response,
    render_response=render_response,
    stream_parser=GeminiStreamParser,
    stream_renderer=GeminiStreamRenderer,
    parse_error=parse_error,
)
