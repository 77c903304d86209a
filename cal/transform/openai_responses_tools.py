"""Responses request pieces that come in bulk: tool specs (memoized by their bytes: Codex sends
the same list on every turn) and input items decoded into one typed struct in a single pass.

Rule: the same results as reading the generic decode of the body; anything the typed path does
not cover exactly (an item field it does not know) makes the caller use the generic path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from cal.transform import TranslationContext
from cal.transform.common import arr, memo_parsed_tools, ok_bool, ok_str
from cal.transform.ir import Tool
from cal.transform.openai_responses_items import raw

_UNSET: Any = msgspec.UNSET


class InputItem(msgspec.Struct, forbid_unknown_fields=True):
    """An input item with every field an item handler reads (and `status`), each decoded as the
    generic decode would, except `tools`, kept raw for `memo_tools`. Any other field fails the
    decode (then the generic path runs), so every byte of the item is still validated. Reads like
    the item's dict: `get`, `in`, `[]` (a field never present reads as absent)."""

    type: Any = "message"
    role: Any = _UNSET
    content: Any = _UNSET
    phase: Any = _UNSET
    id: Any = _UNSET
    status: Any = _UNSET
    call_id: Any = _UNSET
    name: Any = _UNSET
    input: Any = _UNSET
    arguments: Any = _UNSET
    namespace: Any = _UNSET
    output: Any = _UNSET
    encrypted_content: Any = _UNSET
    summary: Any = _UNSET
    tools: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET

    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or `default` when the item did not have it."""
        value = getattr(self, key)
        return default if value is _UNSET else value

    def __contains__(self, key: str) -> bool:
        return getattr(self, key) is not _UNSET

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key)
        if value is _UNSET:
            raise KeyError(key)
        return value


ITEMS = msgspec.json.Decoder(list[InputItem])
"""`input` as typed items (raises msgspec errors where the generic path must run instead)."""


def _tool(spec: Any, namespace: str | None, note: Callable[[str], None]) -> list[Tool]:
    if not isinstance(spec, dict):
        return []
    kind = spec.get("type")
    if kind == "namespace":
        inner = str(spec.get("name", ""))
        return [t for sub in arr(spec.get("tools")) for t in _tool(sub, inner, note)]
    if kind == "function":
        params = spec.get("parameters")
        extras: dict[str, msgspec.Raw] = {
            k: raw(spec[k]) for k in ("defer_loading", "output_schema") if k in spec
        }
        return [
            Tool(
                name=str(spec.get("name", "")),
                description=ok_str(spec.get("description")),
                parameters=raw(params) if params is not None else None,
                strict=ok_bool(spec.get("strict")),
                namespace=namespace,
                extras=extras,
            )
        ]
    if kind == "custom":
        fmt = spec.get("format")
        return [
            Tool(
                name=str(spec.get("name", "")),
                description=ok_str(spec.get("description")),
                kind="custom",
                format=raw(fmt) if fmt is not None else None,
                namespace=namespace,
            )
        ]
    note(f"responses: dropped hosted tool {kind!r} (it does not cross APIs)")
    return []


def _tools(tools: Any, note: Callable[[str], None]) -> list[Tool]:
    """Responses tool specs → IR tools (namespaces flattened into `Tool.namespace`)."""
    if not isinstance(tools, list):
        return []
    return [t for spec in tools if isinstance(spec, dict) for t in _tool(spec, None, note)]


def memo_tools(tools: Any, ctx: TranslationContext) -> list[Tool]:
    """The tools of a decoded `tools` value, or of raw JSON memoized by its bytes."""
    if not isinstance(tools, msgspec.Raw):
        return _tools(tools, ctx.note)
    return memo_parsed_tools("responses.tools", tools, ctx, _tools)
