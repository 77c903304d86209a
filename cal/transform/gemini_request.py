"""Gemini `generateContent` requests → IR (protocols.md §1.4, §3).

The model and streaming come from the URL path (`ctx.client_model`, `ctx.stream`), not the body.
`systemInstruction` becomes a leading system message; `model` contents become assistant turns,
`functionResponse` parts tool messages (split from any other user parts). Calls without an `id`
get a stable synthesized one, and an id-less `functionResponse` takes the id of the oldest
unanswered call with its name. A `thoughtSignature` becomes a signature-only `Thinking` right
before its part, or, when it is one of our `gw1.` envelopes, the block it carries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import msgspec

from cal.formats import ApiFormat
from cal.transform import TranslationContext, TranslationError
from cal.transform.common import arr, decode_object, obj, ok_bool, ok_float, ok_int, ok_str, raw
from cal.transform.ir import (
    ENVELOPE_PREFIX,
    File,
    Image,
    Message,
    Opaque,
    Part,
    Reasoning,
    Request,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    seal,
    unseal,
)

ORIGIN: ApiFormat = "gemini"
_HANDLED = frozenset(
    {
        "contents",
        "systemInstruction",
        "system_instruction",
        "tools",
        "toolConfig",
        "generationConfig",
    }
)
_GEN_HANDLED = frozenset(
    {
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "stopSequences",
        "seed",
        "candidateCount",
        "responseMimeType",
        "responseJsonSchema",
        "responseSchema",
        "thinkingConfig",
    }
)


def synth_call_id(seed: str, ordinal: int) -> str:
    """A stable id for an id-less Gemini function call (`call_` + hash of seed and position)."""
    digest = hashlib.sha256(f"{seed}:{ordinal}".encode()).hexdigest()[:24]
    return f"call_{digest}"


def seal_signature(block: Thinking) -> str:
    """Another provider's reasoning as a Gemini `thoughtSignature`: the `gw1.` envelope, base64
    encoded, because Gemini SDKs hold signatures as bytes (google-genai decodes it and sends it
    back URL-safe encoded, which `unseal_signature` accepts too)."""
    return base64.b64encode(seal(block).encode()).decode()


def unseal_signature(signature: str) -> Thinking | None:
    """The block inside a signature made by `seal_signature` (or a bare envelope), else None."""
    if signature.startswith(ENVELOPE_PREFIX):
        return unseal(signature)
    try:
        text = base64.b64decode(signature.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return unseal(text.decode("ascii", "replace"))  # None unless it is one of our envelopes


def signature_block(signature: str) -> Thinking:
    """The IR form of a Gemini `thoughtSignature` (or of the envelope it carries)."""
    return unseal_signature(signature) or Thinking(text="", signature=signature, origin=ORIGIN)


def media_part(mime: str | None, data: str | None = None, url: str | None = None) -> Part:
    """An inlineData/fileData payload as an IR image or file."""
    if mime and mime.startswith("image/"):
        return Image(media_type=mime, data=data, url=url)
    return File(media_type=mime, data=data, url=url)


def to_json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-style `Schema` (`"type": "OBJECT"`, `nullable`) → plain JSON Schema.

    Types are lower-cased, `nullable: true` becomes a `[T, "null"]` type list (and a null enum
    value) and the `enum` format marker is dropped; everything else is kept as it is.
    """
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "anyOf"):
            out[key] = to_json_schema(value)
        elif key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key != "nullable" and not (key == "format" and value == "enum"):
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


class _Reader:
    """Reads `contents` into IR messages, pairing calls and responses."""

    def __init__(self, ctx: TranslationContext) -> None:
        self.ctx = ctx
        self.messages: list[Message] = []
        self.pending: list[tuple[str, str]] = []  # (name, id) of calls without a response yet
        self.calls = 0

    def push(self, role: str, part: Part) -> None:
        """Append a part to the last message of `role` (a new message when the role changes)."""
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == role:
            last.content.append(part)
        else:
            self.messages.append(Message(role=role, content=[part]))  # type: ignore[arg-type]

    def content(self, content: Any) -> None:
        """Read one `Content` (role model → assistant, anything else → user)."""
        if not isinstance(content, dict):
            return
        role = "assistant" if content.get("role") == "model" else "user"
        for part in arr(content.get("parts")):
            if isinstance(part, dict):
                self.part(role, part)

    def part(self, role: str, part: dict[str, Any]) -> None:
        """Read one part into the message of `role` (function responses into a tool message)."""
        signature = ok_str(part.get("thoughtSignature"))
        if "text" in part and part.get("thought"):
            block = Thinking(text=str(part["text"]), signature=signature, origin=ORIGIN)
            self.push(role, (unseal_signature(signature) or block) if signature else block)
            return
        if signature:
            self.push(role, signature_block(signature))
        if "text" in part:
            if part["text"]:
                self.push(role, Text(text=str(part["text"])))
        elif "inlineData" in part:
            data = obj(part["inlineData"])
            self.push(role, media_part(ok_str(data.get("mimeType")), data=ok_str(data.get("data"))))
        elif "fileData" in part:
            data = obj(part["fileData"])
            self.push(
                role, media_part(ok_str(data.get("mimeType")), url=ok_str(data.get("fileUri")))
            )
        elif "functionCall" in part:
            self.push(role, self.call(obj(part["functionCall"])))
        elif "functionResponse" in part:
            self.push("tool", self.result(obj(part["functionResponse"])))
        elif not signature:
            kind = next(iter(part), "empty")
            self.ctx.note(f"gemini client: kept part {kind!r} as opaque")
            self.push(role, Opaque(origin=ORIGIN, kind=kind, data=raw(part)))

    def call(self, call: dict[str, Any]) -> ToolCall:
        """A `functionCall` → IR call (a stable id when Gemini gave none), remembered as pending."""
        name = str(call.get("name", ""))
        call_id = ok_str(call.get("id")) or synth_call_id(f"history:{name}", self.calls)
        self.calls += 1
        self.pending.append((name, call_id))
        args = call.get("args")
        return ToolCall(id=call_id, name=name, arguments=msgspec.json.encode(obj(args)).decode())

    def result(self, resp: dict[str, Any]) -> ToolResult:
        """A `functionResponse` → IR result paired with its call by id, else by name and order."""
        name = str(resp.get("name", ""))
        call_id = ok_str(resp.get("id"))
        match = next(
            (p for p in self.pending if p[1] == call_id or (not call_id and p[0] == name)), None
        )
        if match is not None:
            self.pending.remove(match)
            call_id = call_id or match[1]
        payload = resp.get("response")
        is_error = isinstance(payload, dict) and set(payload) == {"error"}
        content: list[Text | Image | File] = [Text(text=_response_text(payload))]
        for extra in arr(resp.get("parts")):
            data = obj(obj(extra).get("inlineData"))
            if data:
                media = media_part(ok_str(data.get("mimeType")), data=ok_str(data.get("data")))
                content.append(media)  # type: ignore[arg-type]
        return ToolResult(
            call_id=call_id or synth_call_id(f"orphan:{name}", len(self.pending)),
            content=content,
            is_error=is_error,
            name=name,
        )


def _response_text(payload: Any) -> str:
    """The text a tool result carries: `output`/`error` when it is the only key, else JSON."""
    if isinstance(payload, dict) and len(payload) == 1:
        value = payload.get("output", payload.get("error", payload.get("result")))
        if isinstance(value, str):
            return value
    return msgspec.json.encode(payload if payload is not None else {}).decode()


def _tools(tools: Any, ctx: TranslationContext) -> list[Tool]:
    out: list[Tool] = []
    for spec in tools if isinstance(tools, list) else []:
        if not isinstance(spec, dict):
            continue
        for key in spec:
            if key not in ("functionDeclarations", "function_declarations"):
                ctx.note(f"gemini client: dropped server tool {key!r} (it does not cross APIs)")
        decls = arr(spec.get("functionDeclarations")) or arr(spec.get("function_declarations"))
        for decl in (d for d in decls if isinstance(d, dict)):
            schema = decl.get("parametersJsonSchema")
            if schema is None and decl.get("parameters") is not None:
                schema = to_json_schema(decl["parameters"])
            out.append(
                Tool(
                    name=str(decl.get("name", "")),
                    description=ok_str(decl.get("description")),
                    parameters=raw(schema) if schema is not None else None,
                )
            )
    return out


def _tool_choice(config: Any, ctx: TranslationContext) -> ToolChoice | None:
    fcc = config.get("functionCallingConfig") if isinstance(config, dict) else None
    if not isinstance(fcc, dict):
        return None
    mode = str(fcc.get("mode", "AUTO")).upper()
    names = [str(n) for n in arr(fcc.get("allowedFunctionNames"))]
    if mode == "NONE":
        return ToolChoice(mode="none")
    if mode == "ANY":
        if len(names) == 1:
            return ToolChoice(mode="tool", name=names[0])
        return ToolChoice(mode="any", allowed=names or None)
    if mode == "VALIDATED":
        ctx.note("gemini client: functionCallingConfig mode VALIDATED served as AUTO")
    return ToolChoice(mode="auto", allowed=names or None)


def _reasoning(gen: dict[str, Any]) -> Reasoning | None:
    thinking = gen.get("thinkingConfig")
    if not isinstance(thinking, dict):
        return None
    budget = ok_int(thinking.get("thinkingBudget"))
    level = ok_str(thinking.get("thinkingLevel"))
    mode = "disabled" if budget == 0 else "adaptive" if budget == -1 else None
    return Reasoning(
        mode=mode,
        effort=level.lower() if level else None,
        budget_tokens=budget if budget is not None and budget > 0 else None,
        include_thoughts=ok_bool(thinking.get("includeThoughts")),
    )


def _response_format(gen: dict[str, Any]) -> ResponseFormat | None:
    if gen.get("responseMimeType") != "application/json":
        return None
    schema = gen.get("responseJsonSchema")
    if schema is None and gen.get("responseSchema") is not None:
        schema = to_json_schema(gen["responseSchema"])
    if schema is None:
        return ResponseFormat(kind="json_object")
    return ResponseFormat(kind="json_schema", schema=raw(schema), name="response")


def parse_request(body: bytes, ctx: TranslationContext) -> Request:
    """A Gemini client body → IR request (model and stream from the URL, via `ctx`)."""
    doc = decode_object(body)
    if doc.get("cachedContent"):
        raise TranslationError(
            "cachedContent names context stored by Gemini; a non-Gemini upstream cannot read it"
        )
    reader = _Reader(ctx)
    system = doc.get("systemInstruction") or doc.get("system_instruction")
    if isinstance(system, dict):
        texts = [Text(text=str(p["text"])) for p in arr(system.get("parts")) if "text" in obj(p)]
        reader.messages.append(Message(role="system", content=list(texts)))
    for content in arr(doc.get("contents")):
        reader.content(content)
    gen = obj(doc.get("generationConfig"))
    extras = {k: raw(v) for k, v in doc.items() if k not in _HANDLED}
    extras.update({k: raw(v) for k, v in gen.items() if k not in _GEN_HANDLED})
    stops = gen.get("stopSequences")
    return Request(
        origin=ORIGIN,
        model=ctx.client_model,
        messages=reader.messages,
        tools=_tools(doc.get("tools"), ctx),
        tool_choice=_tool_choice(doc.get("toolConfig"), ctx),
        max_tokens=ok_int(gen.get("maxOutputTokens")),
        temperature=ok_float(gen.get("temperature")),
        top_p=ok_float(gen.get("topP")),
        top_k=ok_int(gen.get("topK")),
        stop=[str(s) for s in stops] if isinstance(stops, list) else None,
        seed=ok_int(gen.get("seed")),
        n=ok_int(gen.get("candidateCount")),
        reasoning=_reasoning(gen),
        response_format=_response_format(gen),
        stream=ctx.stream,
        extras=extras,
    )
