"""clean_schema: JSON Schema → Gemini `parameters` dialect, with a note per change."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from hypothesis import given, settings, strategies as st

from cal.transform.gemini_schema import clean_schema

ALLOWED = {
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


def _walk_keys(schema: Any) -> set[str]:
    """Every keyword used anywhere in a cleaned schema (property names excluded)."""
    if not isinstance(schema, dict):
        return set()
    keys = set(schema)
    for name, value in schema.items():
        if name == "properties":
            for sub in value.values():
                keys |= _walk_keys(sub)
        elif name == "items":
            keys |= _walk_keys(value)
        elif name == "anyOf":
            for sub in value:
                keys |= _walk_keys(sub)
    return keys


def test_plain_schema_is_unchanged_and_has_no_notes() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City"}},
        "required": ["city"],
    }
    cleaned, notes = clean_schema(schema)
    assert cleaned == schema
    assert notes == []


def test_input_is_not_modified() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"a": {"type": ["string", "null"], "const": "x"}},
        "additionalProperties": False,
    }
    before = copy.deepcopy(schema)
    clean_schema(schema)
    assert schema == before


def test_claude_code_style_schema() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600000},
            "count": {"type": "integer", "exclusiveMinimum": 0, "maximum": 9007199254740991},
            "pattern": {"type": "string", "maxLength": 100, "pattern": "^a"},
            "tags": {
                "type": "array",
                "items": {"type": "string"},
                "maxItems": 3,
                "uniqueItems": True,
            },
        },
        "required": ["timeout"],
        "additionalProperties": False,
    }
    cleaned, notes = clean_schema(schema)
    assert cleaned == {
        "type": "object",
        "properties": {
            "timeout": {"type": "number", "minimum": 0, "maximum": 600000},
            "count": {"type": "integer", "minimum": 1, "maximum": 9007199254740991},
            "pattern": {"type": "string", "maxLength": 100, "pattern": "^a"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "required": ["timeout"],
    }
    assert "$: dropped '$schema'" in notes
    assert "$: dropped 'additionalProperties'" in notes
    assert "$.properties.tags: dropped 'uniqueItems'" in notes
    assert any(n.startswith("$.properties.count: exclusiveMinimum 0") for n in notes)


def test_exclusive_maximum_integer_and_draft4_flags() -> None:
    cleaned, _ = clean_schema({"type": "integer", "exclusiveMaximum": 10})
    assert cleaned == {"type": "integer", "maximum": 9}
    cleaned, notes = clean_schema(
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 5}
    )
    assert cleaned == {"type": "integer", "minimum": 1, "maximum": 5}
    assert notes == ["$: exclusiveMinimum flag folded into minimum"]
    cleaned, _ = clean_schema({"type": "number", "exclusiveMaximum": 1.5})
    assert cleaned == {"type": "number", "maximum": 1.5}


def test_ref_and_defs_are_inlined() -> None:
    schema = {
        "type": "object",
        "properties": {
            "home": {"$ref": "#/$defs/Address", "description": "Home address"},
            "work": {"$ref": "#/definitions/Address"},
        },
        "$defs": {"Address": {"type": "object", "properties": {"street": {"type": "string"}}}},
        "definitions": {"Address": {"type": "object", "properties": {"zip": {"type": "string"}}}},
    }
    cleaned, notes = clean_schema(schema)
    assert cleaned["properties"]["home"] == {
        "type": "object",
        "properties": {"street": {"type": "string"}},
        "description": "Home address",
    }
    assert cleaned["properties"]["work"] == {
        "type": "object",
        "properties": {"zip": {"type": "string"}},
    }
    assert "$defs" not in cleaned
    assert "definitions" not in cleaned
    assert notes == []


def test_recursive_ref_is_cut_with_a_note() -> None:
    schema = {
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
    }
    cleaned, notes = clean_schema(schema)
    children = cleaned["properties"]["tree"]["properties"]["children"]
    assert children == {"type": "array", "items": {"type": "object"}}
    assert any("recursive $ref '#/$defs/Node'" in n for n in notes)


def test_root_self_reference_terminates() -> None:
    schema = {"type": "object", "properties": {"next": {"$ref": "#"}}}
    cleaned, notes = clean_schema(schema)
    assert cleaned["properties"]["next"]["properties"]["next"] == {"type": "object"}
    assert notes


def test_unresolvable_ref_becomes_empty_schema() -> None:
    cleaned, notes = clean_schema(
        {"type": "object", "properties": {"x": {"$ref": "https://example.com/s.json"}}}
    )
    assert cleaned["properties"]["x"] == {}
    assert notes == [
        "$.properties.x: unresolvable $ref 'https://example.com/s.json' replaced by an empty schema"
    ]


def test_const_becomes_enum() -> None:
    cleaned, notes = clean_schema({"const": "read"})
    assert cleaned == {"enum": ["read"], "type": "string"}
    assert notes == ["$: const rewritten as a one-value enum"]
    cleaned, notes = clean_schema({"type": "integer", "const": 3})
    assert cleaned == {"type": "integer"}
    assert notes == ["$: dropped non-string const 3"]


def test_const_branches_of_any_of() -> None:
    schema = {"anyOf": [{"const": "a", "description": "A"}, {"const": "b"}]}
    cleaned, _ = clean_schema(schema)
    assert cleaned == {
        "anyOf": [
            {"description": "A", "enum": ["a"], "type": "string"},
            {"enum": ["b"], "type": "string"},
        ]
    }


def test_type_list_with_null_becomes_nullable() -> None:
    cleaned, notes = clean_schema({"type": ["string", "null"], "description": "d"})
    assert cleaned == {"type": "string", "nullable": True, "description": "d"}
    assert len(notes) == 1


def test_type_list_of_several_types_becomes_any_of() -> None:
    cleaned, _ = clean_schema({"type": ["string", "integer", "null"]})
    assert cleaned == {"nullable": True, "anyOf": [{"type": "string"}, {"type": "integer"}]}


def test_any_of_with_null_branch() -> None:
    cleaned, notes = clean_schema(
        {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "null"}], "description": "x"}
    )
    assert cleaned == {"type": "string", "maxLength": 3, "nullable": True, "description": "x"}
    assert notes == ["$: null branch of anyOf rewritten as nullable"]
    cleaned, _ = clean_schema(
        {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
    )
    assert cleaned == {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}


def test_one_of_becomes_any_of() -> None:
    cleaned, notes = clean_schema({"oneOf": [{"type": "string"}, {"type": "integer"}]})
    assert cleaned == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert notes == ["$: oneOf rewritten as anyOf"]


def test_all_of_is_merged() -> None:
    schema = {
        "type": "object",
        "allOf": [
            {"properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"], "description": "AB"},
        ],
        "properties": {"c": {"type": "boolean"}},
        "required": ["c"],
    }
    cleaned, notes = clean_schema(schema)
    assert cleaned["type"] == "object"
    assert cleaned["properties"] == {
        "a": {"type": "string"},
        "b": {"type": "integer"},
        "c": {"type": "boolean"},
    }
    assert sorted(cleaned["required"]) == ["a", "b", "c"]
    assert cleaned["description"] == "AB"
    assert "$: allOf merged into one schema" in notes


def test_additional_properties_and_friends_are_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {"m": {"type": "object", "additionalProperties": {"type": "string"}}},
        "propertyNames": {"pattern": "^[a-z]+$"},
        "patternProperties": {"^x-": {"type": "string"}},
        "if": {"properties": {"a": {"const": 1}}},
        "then": {"required": ["b"]},
        "else": {},
        "not": {"required": ["z"]},
        "unevaluatedProperties": False,
    }
    cleaned, notes = clean_schema(schema)
    assert cleaned == {"type": "object", "properties": {"m": {"type": "object"}}}
    assert len(notes) == 8
    assert _walk_keys(cleaned) <= ALLOWED


def test_vendor_keys_like_codex_encrypted_are_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {
            "token": {"type": "string", "encrypted": True, "x-order": 1},
            "encrypted": {"type": "boolean"},
        },
        "required": ["token", "encrypted"],
    }
    cleaned, notes = clean_schema(schema)
    assert cleaned == {
        "type": "object",
        "properties": {"token": {"type": "string"}, "encrypted": {"type": "boolean"}},
        "required": ["token", "encrypted"],
    }
    assert notes == [
        "$.properties.token: dropped 'encrypted'",
        "$.properties.token: dropped 'x-order'",
    ]


def test_formats_gemini_rejects_are_dropped() -> None:
    schema = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "when": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "format": "int64"},
            "f": {"type": "number", "format": "int32"},
            "mail": {"type": "string", "format": "email"},
        },
    }
    cleaned, notes = clean_schema(schema)
    props = cleaned["properties"]
    assert props["url"] == {"type": "string"}
    assert props["when"] == {"type": "string", "format": "date-time"}
    assert props["n"] == {"type": "integer", "format": "int64"}
    assert props["f"] == {"type": "number"}
    assert props["mail"] == {"type": "string"}
    assert len(notes) == 3


def test_enum_values_become_strings_or_are_dropped() -> None:
    cleaned, _ = clean_schema({"enum": ["a", 1, True]})
    assert cleaned == {"enum": ["a", "1", "true"], "type": "string"}
    cleaned, notes = clean_schema({"type": "integer", "enum": [1, 2]})
    assert cleaned == {"type": "integer"}
    assert notes == ["$: dropped enum on type 'integer'"]
    cleaned, _ = clean_schema({"type": "string", "enum": ["a", None]})
    assert cleaned == {"type": "string", "enum": ["a"], "nullable": True}


def test_required_names_only_declared_properties() -> None:
    cleaned, notes = clean_schema(
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]}
    )
    assert cleaned["required"] == ["a"]
    assert notes == ["$: required limited to declared properties"]
    cleaned, _ = clean_schema({"type": "object", "required": ["ghost"]})
    assert cleaned == {"type": "object"}


def test_array_without_items_gets_string_items() -> None:
    cleaned, notes = clean_schema(
        {"type": "object", "properties": {"rows": {"type": "array", "items": {"type": "array"}}}}
    )
    assert cleaned["properties"]["rows"] == {
        "type": "array",
        "items": {"type": "array", "items": {"type": "string"}},
    }
    assert notes == ["$.properties.rows.items: array without items given string items"]


def test_tuple_items_and_boolean_schemas() -> None:
    cleaned, _ = clean_schema(
        {
            "type": "object",
            "properties": {
                "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                "anything": True,
                "never": False,
            },
        }
    )
    assert cleaned["properties"] == {
        "pair": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "anything": {},
    }


def test_non_object_input_gives_empty_schema_and_note() -> None:
    cleaned, notes = clean_schema(["not", "a", "schema"])
    assert cleaned == {}
    assert notes == ["$: not a schema object, replaced by an empty object schema"]


def test_properties_without_type_get_object_type() -> None:
    cleaned, _ = clean_schema({"properties": {"a": {"type": "string"}}})
    assert cleaned == {"properties": {"a": {"type": "string"}}, "type": "object"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "properties",
                    "items",
                    "anyOf",
                    "oneOf",
                    "allOf",
                    "$ref",
                    "$defs",
                    "const",
                    "enum",
                    "required",
                    "format",
                    "exclusiveMinimum",
                    "additionalProperties",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_any_input_gives_only_allowed_keywords(schema: Any) -> None:
    cleaned, notes = clean_schema(schema)
    assert _walk_keys(cleaned) <= ALLOWED
    msgspec.json.encode(cleaned)
    assert all(isinstance(n, str) for n in notes)
