"""Small helpers every codec shares: JSON bodies, data URLs, tool-name aliases, extras.

Rule: pure functions over IR and JSON values; no API-specific shapes beyond what two or more
codecs need identically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import msgspec

from cal.transform import ToolAlias, TranslationContext, TranslationError
from cal.transform.ir import Request, Tool, ToolKind

CUSTOM_TOOL_SCHEMA = msgspec.Raw(
    b'{"type":"object","properties":{"input":{"type":"string"}},"required":["input"]}'
)
"""The schema a freeform (custom) tool gets where the target only has JSON-argument functions."""
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def decode_object(body: bytes, what: str = "request body") -> dict[str, Any]:
    """`body` as a JSON object, or TranslationError(400)."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise TranslationError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TranslationError(f"{what} must be a JSON object")
    return value


class ItemFields(Protocol):
    """A JSON object read by key: its generic-decode dict, or a typed struct reading the same."""

    def get(self, key: str, default: Any = None, /) -> Any: ...

    def __contains__(self, key: str, /) -> bool: ...

    def __getitem__(self, key: str, /) -> Any: ...


_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
T = TypeVar("T")


def parse_fields(
    body: bytes, ctx: TranslationContext, parse: Callable[[dict[str, msgspec.Raw]], T]
) -> T:
    """`parse` over `body`'s top-level fields as raw JSON slices (scanned, not decoded, in body
    order), with exactly the outcome of decoding the whole body first: a body a generic decode
    rejects raises `decode_object`'s TranslationError and leaves no notes. `parse` must decode
    every field (`load`, `canonical`) or take its result from bytes decoded before (a `Memo`),
    so that any invalid value surfaces; big fields can then be memoized by their bytes."""
    mark = len(ctx.notes)
    try:
        return parse(_validated_fields(body))
    except (TranslationError, msgspec.MsgspecError, UnicodeDecodeError):
        try:
            decode_object(body)
        except TranslationError:
            del ctx.notes[mark:]
            raise
        raise


def _validated_fields(body: bytes) -> dict[str, msgspec.Raw]:
    fields = _FIELDS.decode(body)
    # A raw slice is only scanned: strings are checked for UTF-8 when decoded. Every field's value
    # is decoded by the parser, but a duplicated key's shadowed value is not: unless the body is
    # compact without duplicates (its size then adds up), check the whole body's UTF-8 here.
    size = 2 + max(0, 2 * len(fields) - 1) + sum(len(k) + 2 + len(v) for k, v in fields.items())
    if size != len(body) and not body.isascii():
        body.decode()
    return fields


def load(fields: dict[str, msgspec.Raw], key: str) -> Any:
    """The decoded value of field `key` (None when absent, like `dict.get`)."""
    value = fields.get(key)
    return None if value is None else msgspec.json.decode(value)


def canonical(value: msgspec.Raw) -> msgspec.Raw:
    """A raw slice re-encoded as `raw(decoded)` gives it (compact, msgspec's escapes)."""
    return msgspec.Raw(msgspec.json.encode(msgspec.json.decode(value)))


def memo_rendered(
    what: str,
    tools: list[Tool],
    ctx: TranslationContext,
    render: Callable[[list[Tool], TranslationContext], list[dict[str, Any]]],
) -> list[dict[str, Any]] | msgspec.Raw:
    """`render(tools, ctx)`, as raw JSON from `ctx.memo` when these very Tool objects (a memoized
    parse gives the same ones every turn) were rendered before. `render` may only note and add
    tool aliases to `ctx`: both are recorded and replayed (the notes it tried, the aliases it
    set, in order), which leaves `ctx` as a fresh render would."""
    memo = ctx.memo
    if memo is None or not tools:
        return render(tools, ctx)
    done: tuple[msgspec.Raw, tuple[str, ...], dict[str, ToolAlias]] | None = memo.rendered(
        what, tools
    )
    if done is None:
        if not memo.is_shared(tools):
            return render(tools, ctx)
        scratch = dataclasses.replace(ctx, notes=[], tool_aliases={}, memo=None)
        rendered = msgspec.Raw(msgspec.json.encode(render(tools, scratch)))
        done = rendered, tuple(scratch.notes), scratch.tool_aliases
        memo.keep_rendered(what, tools, done)
    for message in done[1]:
        ctx.note(message)
    ctx.tool_aliases.update(done[2])
    return done[0]


def memo_parsed_tools(
    what: str,
    tools: msgspec.Raw,
    ctx: TranslationContext,
    parse: Callable[[Any, Callable[[str], None]], list[Tool]],
) -> list[Tool]:
    """`parse` of a raw `tools` field, from `ctx.memo` when these bytes were parsed before (code
    agents send the same tool list on every turn), its notes replayed onto `ctx`. The Tool
    objects are shared between requests: nothing downstream mutates them."""
    source = bytes(tools)
    memo = ctx.memo
    parsed: tuple[tuple[Tool, ...], tuple[str, ...]] | None = (
        memo.parsed(what, source) if memo is not None else None
    )
    if parsed is None:
        notes: list[str] = []
        parsed = tuple(parse(msgspec.json.decode(source), notes.append)), tuple(notes)
        if memo is not None:
            memo.keep_parsed(what, source, parsed)
            memo.share(parsed[0])
    for message in parsed[1]:
        ctx.note(message)
    return list(parsed[0])


def try_decode(data: bytes) -> Any:
    """`data` decoded as JSON, or None when it is not JSON."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        return None


def raw(value: Any) -> msgspec.Raw:
    """A JSON value as raw JSON bytes."""
    return msgspec.Raw(msgspec.json.encode(value))


def from_raw(value: msgspec.Raw | None) -> Any:
    """Raw JSON bytes as a Python value (None stays None)."""
    return None if value is None else msgspec.json.decode(value)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:<mt>;base64,<d>` URL, else None."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head.removesuffix(";base64") or "application/octet-stream", data


def data_url(media_type: str | None, data: str) -> str:
    """A base64 data URL."""
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def upstream_tool_name(
    name: str,
    namespace: str | None,
    kind: ToolKind,
    ctx: TranslationContext,
    *,
    custom_native: bool,
    strict_chars: bool = False,
) -> str:
    """The tool's name for an upstream without namespaces (flattened `<namespace>__<name>`, bare
    for the `functions` namespace); with `strict_chars`, also made to match
    `^[A-Za-z0-9_-]{1,64}$` (Anthropic, OpenAI) deterministically. Records an alias when the name
    or kind changes so the upstream parser can map calls back with `restore_tool`."""
    flat = name if namespace in (None, "", "functions") else f"{namespace}__{name}"
    if strict_chars and not _TOOL_NAME.match(flat):
        digest = hashlib.sha256(flat.encode()).hexdigest()[:8]
        flat = f"{re.sub(r'[^A-Za-z0-9_-]', '_', flat)[:55]}_{digest}"
        ctx.note(f"tool name {name!r} renamed {flat!r} for the upstream (and back)")
    wrapped = kind == "custom" and not custom_native
    if flat != name or namespace or wrapped:
        ctx.tool_aliases[flat] = ToolAlias(
            name=name, namespace=namespace, kind="custom" if wrapped else "function"
        )
    return flat


def renamed(name: str, ctx: TranslationContext) -> str:
    """The upstream name a tool was given by `upstream_tool_name` (for tool_choice)."""
    for flat, alias in ctx.tool_aliases.items():
        if alias.name == name:
            return flat
    return name


def restore_tool(name: str, ctx: TranslationContext) -> ToolAlias:
    """The original tool behind an upstream tool name (itself when it was not renamed)."""
    return ctx.tool_aliases.get(name) or ToolAlias(name=name)


def wrap_custom_input(text: str) -> str:
    """Freeform tool input as the JSON arguments of its function stand-in."""
    return msgspec.json.encode({"input": text}).decode()


def unwrap_custom_input(arguments: str) -> str:
    """The freeform input inside `{"input": …}` arguments (the text itself if not wrapped)."""
    value = try_decode(arguments.encode())
    if isinstance(value, dict) and isinstance(value.get("input"), str):
        return str(value["input"])
    return arguments


def note_dropped_extras(req: Request, ctx: TranslationContext, kept: frozenset[str]) -> None:
    """Note every request extra the target renderer does not carry (those not in `kept`)."""
    for key in req.extras:
        if key not in kept:
            ctx.note(f"dropped {req.origin} field {key!r}: no equivalent upstream")


def ok_str(value: Any) -> str | None:
    """`value` if it is a string, else None."""
    return value if isinstance(value, str) else None


def ok_bool(value: Any) -> bool | None:
    """`value` if it is a bool, else None."""
    return value if isinstance(value, bool) else None


def ok_int(value: Any) -> int | None:
    """`value` if it is an int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ok_float(value: Any) -> float | None:
    """`value` as a float if it is a number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def obj(value: Any) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def arr(value: Any) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []
