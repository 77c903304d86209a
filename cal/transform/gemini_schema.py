"""Clean a JSON Schema into Gemini's `parameters` dialect (protocols.md §4).

Gemini's `FunctionDeclaration.parameters` is an OpenAPI 3.0 `Schema` proto: one unknown key
fails the whole request with "Unknown name ... Cannot find field". `clean_schema` rewrites a JSON
Schema into that subset and returns a note for every change, so the exchange records what was lost:

- drop `$schema`, `$id`, `$comment`, `examples`, `additionalProperties`, `propertyNames`,
  `patternProperties`, `uniqueItems`, `multipleOf`, `if/then/else`, `not`, vendor keys;
- inline `$ref` from `$defs`/`definitions` (a cycle becomes a bare `object`);
- `const` → one-value `enum`; `type: [T, "null"]` and `anyOf` with a null branch → `nullable`;
- `exclusiveMinimum/Maximum` → `minimum/maximum` (±1 for integers); `oneOf` → `anyOf`;
  `allOf` → merged into its parent;
- `enum` values → strings (dropped on non-string types); unsupported `format` values dropped;
  `required` limited to declared properties; an array without `items` gets string items.

Pure: the input is never modified.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_KEPT = frozenset(
    {
        "type",
        "format",
        "title",
        "description",
        "nullable",
        "enum",
        "example",
        "default",
        "items",
        "properties",
        "required",
        "propertyOrdering",
        "anyOf",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minProperties",
        "maxProperties",
        "minimum",
        "maximum",
        "pattern",
    }
)
"""Keys of Gemini's `Schema` proto that `clean_schema` emits."""

_VALUE_TYPES: dict[str, type | tuple[type, ...]] = {
    "type": (str, list),
    "format": str,
    "title": str,
    "description": str,
    "pattern": str,
    "nullable": bool,
    "enum": list,
    "required": list,
    "propertyOrdering": list,
    "minimum": (int, float),
    "maximum": (int, float),
    **dict.fromkeys(("minItems", "maxItems", "minLength", "maxLength"), int),
    **dict.fromkeys(("minProperties", "maxProperties"), int),
}
"""The JSON type each scalar keyword must have; a value of another type is dropped."""

_FORMATS: dict[str, frozenset[str]] = {
    "string": frozenset({"enum", "date-time"}),
    "number": frozenset({"float", "double"}),
    "integer": frozenset({"int32", "int64"}),
}
"""The `format` values Gemini accepts, per type."""

_HANDLED = frozenset(
    {
        "$ref",
        "$defs",
        "definitions",
        "const",
        "oneOf",
        "allOf",
        "exclusiveMinimum",
        "exclusiveMaximum",
    }
)
"""Keys rewritten into kept ones (not reported as dropped)."""

_MAX_DEPTH = 64


class _Cleaner:
    """One cleaning pass: the root's definitions, the notes, and the refs being expanded."""

    def __init__(self, root: Schema) -> None:
        self.defs: dict[str, Any] = {}
        for key in ("definitions", "$defs"):
            found = root.get(key)
            if isinstance(found, dict):
                self.defs.update({f"#/{key}/{name}": sub for name, sub in found.items()})
        self.root = root
        self.notes: list[str] = []
        self.expanding: list[str] = []

    def note(self, path: str, text: str) -> None:
        """Record one change at `path` (dotted, `$` is the root)."""
        self.notes.append(f"{path}: {text}")

    def clean(self, schema: Any, path: str, depth: int = 0) -> Schema:
        """Return the Gemini form of one (sub)schema."""
        if schema is True or schema is None:
            return {}
        if not isinstance(schema, dict):
            self.note(path, "not a schema object, replaced by an empty schema")
            return {}
        if depth > _MAX_DEPTH:
            self.note(path, "nested too deeply, replaced by an empty schema")
            return {}
        if "$ref" in schema:
            return self._clean_ref(schema, path, depth)
        out: Schema = {}
        self._copy_kept(schema, out, path, depth)
        self._merge_all_of(schema, out, path, depth)
        _apply_const(schema, out, self, path)
        _apply_exclusive(schema, out, self, path)
        _normalize_type(out, self, path)
        _fold_null_branch(out, self, path)
        _fix_enum(out, self, path)
        _fix_format(out, self, path)
        _fix_required(out, self, path)
        _fix_array(out, self, path)
        return out

    def _clean_ref(self, schema: Schema, path: str, depth: int) -> Schema:
        """Inline a local `$ref`; siblings of the ref (description…) override the target's."""
        ref = schema["$ref"]
        target = self._resolve(ref)
        if target is None:
            self.note(path, f"unresolvable $ref {ref!r} replaced by an empty schema")
            resolved: Schema = {}
        elif ref in self.expanding:
            self.note(path, f"recursive $ref {ref!r} cut to a bare object")
            resolved = {"type": "object"}
        else:
            self.expanding.append(ref)
            resolved = self.clean(target, path, depth + 1)
            self.expanding.pop()
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        if siblings:
            resolved = {**resolved, **self.clean(siblings, path, depth + 1)}
        return resolved

    def _resolve(self, ref: Any) -> Any:
        """The schema a local `$ref` names, or None."""
        if not isinstance(ref, str):
            return None
        if ref == "#":
            return self.root
        return self.defs.get(ref)

    def _copy_kept(self, schema: Schema, out: Schema, path: str, depth: int) -> None:
        """Copy kept keys (cleaning sub-schemas) and note every key dropped."""
        for key, value in schema.items():
            if key in _HANDLED:
                continue
            if key not in _KEPT:
                self.note(path, f"dropped {key!r}")
                continue
            if key == "properties":
                out[key] = self._clean_properties(value, path, depth)
            elif key == "items":
                out[key] = self._clean_items(value, path, depth)
            elif key == "anyOf":
                out[key] = self._clean_branches(value, f"{path}.anyOf", depth)
            elif _valid_value(key, value):
                out[key] = value
            else:
                self.note(path, f"dropped {key!r} with a value of the wrong type")
        if "oneOf" in schema:
            self.note(path, "oneOf rewritten as anyOf")
            branches = self._clean_branches(schema["oneOf"], f"{path}.oneOf", depth)
            out["anyOf"] = [*out.get("anyOf", []), *branches]

    def _clean_properties(self, value: Any, path: str, depth: int) -> Schema:
        """Clean each property schema (the keys are names, not keywords)."""
        if not isinstance(value, dict):
            self.note(path, "properties is not an object, dropped")
            return {}
        return {
            name: self.clean(sub, f"{path}.properties.{name}", depth + 1)
            for name, sub in value.items()
            if sub is not False
        }

    def _clean_items(self, value: Any, path: str, depth: int) -> Schema:
        """Clean `items`; a tuple form (list of schemas) becomes an `anyOf` of them."""
        if isinstance(value, list):
            self.note(path, "tuple items rewritten as anyOf")
            return {"anyOf": self._clean_branches(value, f"{path}.items", depth)}
        return self.clean(value, f"{path}.items", depth + 1)

    def _clean_branches(self, value: Any, path: str, depth: int) -> list[Schema]:
        """Clean the branches of an anyOf/oneOf list."""
        if not isinstance(value, list):
            self.note(path, "not a list, dropped")
            return []
        return [self.clean(sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(value)]

    def _merge_all_of(self, schema: Schema, out: Schema, path: str, depth: int) -> None:
        """Merge each `allOf` branch into `out`: properties and required unite, else first wins."""
        branches = schema.get("allOf")
        if branches is None:
            return
        self.note(path, "allOf merged into one schema")
        for sub in self._clean_branches(branches, f"{path}.allOf", depth):
            for key, value in sub.items():
                if key == "properties" and isinstance(out.get(key), dict):
                    out[key] = {**value, **out[key]}
                elif key == "required" and isinstance(out.get(key), list):
                    out[key] = [*out[key], *(r for r in value if r not in out[key])]
                else:
                    out.setdefault(key, value)


def _valid_value(key: str, value: Any) -> bool:
    """Whether a scalar keyword's value has the JSON type Gemini expects."""
    expected = _VALUE_TYPES.get(key)
    if expected is None:
        return True
    if isinstance(value, bool) and key != "nullable":
        return False
    if key == "type" and isinstance(value, list):
        return all(isinstance(t, str) for t in value)
    return isinstance(value, expected)


def _apply_const(schema: Schema, out: Schema, cl: _Cleaner, path: str) -> None:
    """`const: v` → `enum: [v]` for strings; other constants are dropped."""
    if "const" not in schema:
        return
    value = schema["const"]
    if isinstance(value, str):
        out["enum"] = [value]
        out.setdefault("type", "string")
        cl.note(path, "const rewritten as a one-value enum")
    else:
        cl.note(path, f"dropped non-string const {value!r}")


def _apply_exclusive(schema: Schema, out: Schema, cl: _Cleaner, path: str) -> None:
    """`exclusiveMinimum/Maximum` → inclusive bounds (shifted by one for integers)."""
    integer = schema.get("type") == "integer"
    for key, bound, step in (
        ("exclusiveMinimum", "minimum", 1),
        ("exclusiveMaximum", "maximum", -1),
    ):
        value = schema.get(key)
        if value is None:
            continue
        if isinstance(value, bool):  # draft-4 form: a flag on minimum/maximum
            if value and integer and isinstance(out.get(bound), int):
                out[bound] += step
            cl.note(path, f"{key} flag folded into {bound}")
        elif isinstance(value, int | float):
            out[bound] = value + step if integer and isinstance(value, int) else value
            cl.note(path, f"{key} {value} rewritten as {bound} {out[bound]}")
        else:
            cl.note(path, f"dropped {key} {value!r}")


def _normalize_type(out: Schema, cl: _Cleaner, path: str) -> None:
    """A type list: `null` becomes `nullable`; several other types become an anyOf."""
    types = out.get("type")
    if not isinstance(types, list):
        return
    kinds = [t for t in types if t != "null"]
    if len(kinds) < len(types):
        out["nullable"] = True
    if len(kinds) == 1:
        out["type"] = kinds[0]
        cl.note(path, f"type list {types} rewritten as {kinds[0]!r} nullable")
    else:
        del out["type"]
        if kinds:
            out["anyOf"] = [*out.get("anyOf", []), *({"type": t} for t in kinds)]
        cl.note(path, f"type list {types} rewritten as anyOf")


def _fold_null_branch(out: Schema, cl: _Cleaner, path: str) -> None:
    """`anyOf` with a `{type: null}` branch → `nullable`; a single remaining branch is inlined."""
    branches = out.get("anyOf")
    if not isinstance(branches, list):
        return
    rest = [
        b for b in branches if b != {"type": "null"} and b != {"type": "null", "nullable": True}
    ]
    if len(rest) == len(branches):
        return
    out["nullable"] = True
    cl.note(path, "null branch of anyOf rewritten as nullable")
    if len(rest) == 1:
        del out["anyOf"]
        for key, value in rest[0].items():
            out.setdefault(key, value)
    else:
        out["anyOf"] = rest


def _fix_enum(out: Schema, cl: _Cleaner, path: str) -> None:
    """Gemini enums are strings: stringify them, or drop them on numeric/boolean types."""
    values = out.get("enum")
    if values is None:
        return
    if not isinstance(values, list):
        del out["enum"]
        cl.note(path, "dropped enum that is not a list")
        return
    if None in values:
        out["nullable"] = True
        values = [v for v in values if v is not None]
        out["enum"] = values
    if all(isinstance(v, str) for v in values):
        return
    if out.get("type", "string") == "string":
        out["enum"] = [v if isinstance(v, str) else _scalar_text(v) for v in values]
        out["type"] = "string"
        cl.note(path, "enum values rewritten as strings")
    else:
        del out["enum"]
        cl.note(path, f"dropped enum on type {out.get('type')!r}")


def _scalar_text(value: Any) -> str:
    """The JSON spelling of a scalar enum value (`true`, `3`, `1.5`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fix_format(out: Schema, cl: _Cleaner, path: str) -> None:
    """Drop a `format` Gemini does not accept for the schema's type."""
    fmt = out.get("format")
    if fmt is None:
        return
    if fmt not in _FORMATS.get(str(out.get("type")), frozenset()):
        del out["format"]
        cl.note(path, f"dropped format {fmt!r}")


def _fix_required(out: Schema, cl: _Cleaner, path: str) -> None:
    """`required` may name only declared properties (Gemini rejects the others)."""
    required = out.get("required")
    if required is None:
        return
    props = out.get("properties")
    declared = props if isinstance(props, dict) else {}
    listed = required if isinstance(required, list) else []
    kept = [r for r in listed if isinstance(r, str) and r in declared]
    if len(kept) != len(listed) or not isinstance(required, list):
        cl.note(path, "required limited to declared properties")
    if kept:
        out["required"] = kept
    else:
        del out["required"]


def _fix_array(out: Schema, cl: _Cleaner, path: str) -> None:
    """Every array needs `items` (Gemini: "items: missing field"); default to strings."""
    if out.get("type") == "array" and not out.get("items"):
        out["items"] = {"type": "string"}
        cl.note(path, "array without items given string items")


def clean_schema(schema: Any) -> tuple[Schema, list[str]]:
    """Rewrite a JSON Schema into Gemini's `parameters` dialect.

    Args:
        schema: a tool's JSON Schema (usually `{"type": "object", ...}`); not modified.

    Returns:
        The cleaned schema and one note per change, each `"<path>: <what changed>"` with `$` as
        the root path.
    """
    root = schema if isinstance(schema, dict) else {}
    cleaner = _Cleaner(root)
    if not isinstance(schema, dict):
        cleaner.note("$", "not a schema object, replaced by an empty object schema")
    cleaned = cleaner.clean(root, "$")
    if "type" not in cleaned and "properties" in cleaned:
        cleaned["type"] = "object"
    return cleaned, cleaner.notes
