"""IR requests → Gemini `generateContent` bodies (protocols.md §1.4, §3, §4).

Leading system/developer messages become `systemInstruction`; later ones become user text (Gemini
has no mid-conversation instruction). Adjacent same-role contents are merged, so the tool results
of one step share one `user` content; `functionResponse.response` is always an object
(`{"output": …}` or `{"error": …}`) and its `name` comes from the matching call. Tool schemas go
through `clean_schema` (each change noted); namespaced and freeform tools are flattened with
`upstream_tool_name`. Only Gemini's own `thoughtSignature`s go upstream, on the part they came
with; a call with none gets the documented `skip_thought_signature_validator` placeholder (Gemini
3 rejects unsigned calls in history). The model is not in the body: the gateway puts it in the URL.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import msgspec

from cal.transform import TranslationContext, TranslationError
from cal.transform.common import CUSTOM_TOOL_SCHEMA, from_raw, upstream_tool_name, wrap_custom_input
from cal.transform.gemini_schema import clean_schema
from cal.transform.ir import (
    File,
    Image,
    Message,
    Part,
    Request,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolChoice,
    ToolResult,
    arguments_object,
    call_names,
    leading_instructions,
    text_of,
)

SKIP_SIGNATURE = "skip_thought_signature_validator"
MAX_OUTPUT_TOKENS = 65536
"""Gemini 2.5/3 models' output ceiling; Claude Code asks for 128000 (its models' own ceiling)."""
_LEVELS = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH"}
_LEVELS |= {"xhigh": "XHIGH", "max": "XHIGH"}
_BUDGETS = {
    "minimal": 512,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}
"""Effort → `thinkingBudget` for Gemini 2.x, which has no `thinkingLevel`."""


def media_json(part: Image | File, ctx: TranslationContext) -> dict[str, Any] | None:
    """An image or file as `inlineData` / `fileData` (a text document as a text part)."""
    if isinstance(part, File) and part.text is not None:
        return {"text": part.text}
    uri = part.url or part.file_id
    default = "image/png" if isinstance(part, Image) else "application/pdf"
    mime = part.media_type or (uri and mimetypes.guess_type(uri)[0]) or default
    if part.data is not None:
        return {"inlineData": {"mimeType": mime, "data": part.data}}
    if uri is None:
        return None
    if not uri.startswith(("gs://", "https://generativelanguage.googleapis.com")):
        ctx.note("gemini upstream: a media URL was sent as fileData (Gemini fetches it)")
    return {"fileData": {"mimeType": mime, "fileUri": uri}}


class _Contents:
    """Builds `contents`, merging adjacent same-role turns and placing signatures."""

    def __init__(self, req: Request, ctx: TranslationContext) -> None:
        self.ctx = ctx
        self.names = call_names(req.messages)
        self.contents: list[dict[str, Any]] = []
        self.signature: str | None = None

    def add(self, role: str, part: dict[str, Any]) -> None:
        """Append a part to the last content of `role` (a new content when the role changes)."""
        if self.signature is not None:
            part["thoughtSignature"], self.signature = self.signature, None
        last = self.contents[-1] if self.contents else None
        if last is None or last["role"] != role:
            last = {"role": role, "parts": []}
            self.contents.append(last)
        last["parts"].append(part)

    def message(self, msg: Message) -> None:
        """Render one IR message (tool messages become functionResponse parts)."""
        if msg.role == "tool":
            for part in msg.content:
                if isinstance(part, ToolResult):
                    self.add("user", {"functionResponse": self.result(part)})
            return
        role = "model" if msg.role == "assistant" else "user"
        if msg.role in ("system", "developer"):
            self.ctx.note("gemini upstream: a mid-conversation instruction became user text")
        unsigned_call = True
        for part in msg.content:
            if isinstance(part, ToolCall):
                if unsigned_call and self.signature is None:
                    self.signature = SKIP_SIGNATURE
                unsigned_call = False
            self.part(role, part)
        if self.signature not in (None, SKIP_SIGNATURE):
            self.add(role, {"text": ""})
        self.signature = None

    def part(self, role: str, part: Part) -> None:
        """Render one IR part of a user or model turn."""
        if isinstance(part, Text):
            self.add(role, {"text": part.text})
        elif isinstance(part, Image | File):
            media = media_json(part, self.ctx)
            if media is not None:
                self.add(role, media)
        elif isinstance(part, ToolCall):
            self.add(role, {"functionCall": self.call(part)})
        elif isinstance(part, Thinking):
            self.thinking(role, part)
        else:
            self.ctx.note(f"gemini upstream: dropped a {type(part).__name__} part")

    def thinking(self, role: str, block: Thinking) -> None:
        """Gemini reasoning goes back as a thought part or a signature for the next part."""
        if block.origin != "gemini":
            self.ctx.note("gemini upstream: dropped reasoning produced by another provider")
        elif block.text:
            out: dict[str, Any] = {"text": block.text, "thought": True}
            if block.signature:
                out["thoughtSignature"] = block.signature
            self.add(role, out)
        elif block.signature:
            self.signature = block.signature

    def call(self, call: ToolCall) -> dict[str, Any]:
        """A tool call as `functionCall` (flattened name, arguments as an object)."""
        name = upstream_tool_name(
            call.name, call.namespace, call.kind, self.ctx, custom_native=False
        )
        arguments = wrap_custom_input(call.arguments) if call.kind == "custom" else call.arguments
        args = arguments_object(arguments)
        if args is None:
            self.ctx.note(f"gemini upstream: arguments of a {call.name!r} call are not an object")
        return {"name": name, "args": from_raw(args) if args is not None else {}}

    def result(self, res: ToolResult) -> dict[str, Any]:
        """A tool result as `functionResponse` (name from the matching call)."""
        name = res.name or self.names.get(res.call_id, "")
        if not name:
            self.ctx.note("gemini upstream: a tool result names no call; sent with an empty name")
        text = text_of(list(res.content))
        out: dict[str, Any] = {
            "name": upstream_tool_name(name, None, res.kind, self.ctx, custom_native=False),
            "response": {"error" if res.is_error else "output": text},
        }
        media = [
            m
            for m in (media_json(p, self.ctx) for p in res.content if not isinstance(p, Text))
            if m
        ]
        if media:
            out["parts"] = media
        return out


def _tools(tools: list[Tool], ctx: TranslationContext) -> list[dict[str, Any]]:
    decls: list[dict[str, Any]] = []
    for tool in tools:
        name = upstream_tool_name(tool.name, tool.namespace, tool.kind, ctx, custom_native=False)
        decl: dict[str, Any] = {"name": name}
        if tool.description:
            decl["description"] = tool.description
        schema = CUSTOM_TOOL_SCHEMA if tool.kind == "custom" else tool.parameters
        if schema is not None:
            cleaned, notes = clean_schema(from_raw(schema))
            for note in notes:
                ctx.note(f"gemini upstream: tool {name!r} schema {note}")
            if cleaned.get("properties") or cleaned.get("type") not in (None, "object"):
                decl["parameters"] = cleaned
        decls.append(decl)
    return [{"functionDeclarations": decls}] if decls else []


def _tool_config(choice: ToolChoice, req: Request, ctx: TranslationContext) -> dict[str, Any]:
    kinds = {t.name: t for t in req.tools}

    def flat(name: str) -> str:
        """The upstream name of a tool named in tool_choice."""
        tool = kinds.get(name)
        if tool is None:
            return name
        return upstream_tool_name(tool.name, tool.namespace, tool.kind, ctx, custom_native=False)

    mode = {"auto": "AUTO", "any": "ANY", "none": "NONE", "tool": "ANY"}[choice.mode]
    config: dict[str, Any] = {"mode": mode}
    names = [choice.name] if choice.mode == "tool" and choice.name else choice.allowed
    if names:
        config["allowedFunctionNames"] = [flat(n) for n in names]
    return {"functionCallingConfig": config}


def uses_thinking_levels(model: str) -> bool:
    """Gemini 3 and later take `thinkingLevel`; Gemini 1.x/2.x only `thinkingBudget`."""
    return not any(f"gemini-{v}" in model for v in ("1", "2"))


def _thinking_config(req: Request, model: str) -> dict[str, Any] | None:
    spec = req.reasoning
    if spec is None:
        return None
    if spec.mode == "disabled" or spec.effort == "none":
        return {"thinkingBudget": 0}
    out: dict[str, Any] = {}
    if spec.effort in _LEVELS and uses_thinking_levels(model):
        out["thinkingLevel"] = _LEVELS[spec.effort]
    elif spec.effort in _BUDGETS and spec.budget_tokens is None:
        out["thinkingBudget"] = _BUDGETS[spec.effort]
    elif spec.budget_tokens is not None:
        out["thinkingBudget"] = spec.budget_tokens
    show = spec.include_thoughts
    if show is None:
        show = spec.summary is not None or spec.display == "summarized" or spec.mode == "enabled"
    if show:
        out["includeThoughts"] = True
    return out or None


def _generation_config(req: Request, ctx: TranslationContext) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    max_tokens = req.max_tokens
    if max_tokens is not None and max_tokens > MAX_OUTPUT_TOKENS:
        ctx.note(f"gemini upstream: maxOutputTokens {max_tokens} lowered to {MAX_OUTPUT_TOKENS}")
        max_tokens = MAX_OUTPUT_TOKENS
    for key, value in (
        ("maxOutputTokens", max_tokens),
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("topK", req.top_k),
        ("stopSequences", req.stop),
        ("seed", req.seed),
        ("candidateCount", req.n),
        ("thinkingConfig", _thinking_config(req, ctx.upstream_model)),
    ):
        if value is not None:
            gen[key] = value
    fmt = req.response_format
    if fmt is not None and fmt.kind != "text":
        gen["responseMimeType"] = "application/json"
        if fmt.kind == "json_schema" and fmt.schema is not None:
            gen["responseJsonSchema"] = from_raw(fmt.schema)
    return gen


def _note_unsupported(req: Request, ctx: TranslationContext) -> None:
    if req.parallel_tool_calls is False:
        ctx.note("gemini upstream: dropped parallel_tool_calls=false (no such setting)")
    if req.cache is not None or any(
        getattr(p, "cache", None) is not None for m in req.messages for p in m.content
    ):
        ctx.note("gemini upstream: dropped prompt-cache markers (Gemini caches implicitly)")
    if req.user or req.metadata:
        ctx.note("gemini upstream: dropped user/metadata (no such field)")
    for key in req.extras:
        ctx.note(f"gemini upstream: dropped {req.origin} field {key!r}")


def render_request(req: Request, ctx: TranslationContext) -> bytes:
    """IR request → Gemini body (no `model`: it goes in the URL path)."""
    if any(isinstance(p, ToolCall) and not p.name for m in req.messages for p in m.content):
        raise TranslationError("a tool call in the history has no name")
    _note_unsupported(req, ctx)
    leading, rest = leading_instructions(req.messages)
    body: dict[str, Any] = {}
    system = [{"text": text_of(m.content)} for m in leading if text_of(m.content)]
    if system:
        body["systemInstruction"] = {"parts": system}
    contents = _Contents(req, ctx)
    for msg in rest:
        contents.message(msg)
    body["contents"] = contents.contents
    tools = _tools(req.tools, ctx)
    if tools:
        body["tools"] = tools
    if req.tool_choice is not None and req.tools:
        body["toolConfig"] = _tool_config(req.tool_choice, req, ctx)
    gen = _generation_config(req, ctx)
    if gen:
        body["generationConfig"] = gen
    return msgspec.json.encode(body)
