"""The mock's model lists and model objects, in each API's shape (any model name is accepted)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

MODELS = ("mock-model", "mock-claude", "mock-gpt", "mock-gemini")
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z
ModelShape = Literal["anthropic", "openai", "gemini"]


def _display(name: str) -> str:
    return name.replace("-", " ").title()


def anthropic_model(name: str) -> dict[str, Any]:
    """An Anthropic ModelInfo."""
    return {
        "type": "model",
        "id": name,
        "display_name": _display(name),
        "created_at": "2025-01-01T00:00:00Z",
    }


def openai_model(name: str) -> dict[str, Any]:
    """An OpenAI Model."""
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "cal-mock"}


def gemini_model(name: str) -> dict[str, Any]:
    """A Gemini Model (`name` with or without its `models/` prefix)."""
    name = name.removeprefix("models/")
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": _display(name),
        "description": "A model served by the cal mock provider.",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
        "thinking": True,
    }


def model_body(shape: ModelShape, name: str) -> bytes:
    """The JSON of one model object (GET /v1/models/{id}, /v1beta/models/{name})."""
    build = {"anthropic": anthropic_model, "openai": openai_model, "gemini": gemini_model}[shape]
    return msgspec.json.encode(build(name))


ANTHROPIC_MODELS = msgspec.json.encode(
    {
        "data": [anthropic_model(name) for name in MODELS],
        "has_more": False,
        "first_id": MODELS[0],
        "last_id": MODELS[-1],
    }
)
OPENAI_MODELS = msgspec.json.encode(
    {"object": "list", "data": [openai_model(name) for name in MODELS]}
)
GEMINI_MODELS = msgspec.json.encode({"models": [gemini_model(name) for name in MODELS]})
