"""The mock's model lists, in each API's shape, built once (the mock accepts any model name)."""

from __future__ import annotations

import msgspec

MODELS = ("mock-model", "mock-claude", "mock-gpt", "mock-gemini")
_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z

ANTHROPIC_MODELS = msgspec.json.encode(
    {
        "data": [
            {
                "type": "model",
                "id": name,
                "display_name": name.replace("-", " ").title(),
                "created_at": "2025-01-01T00:00:00Z",
            }
            for name in MODELS
        ],
        "has_more": False,
        "first_id": MODELS[0],
        "last_id": MODELS[-1],
    }
)

OPENAI_MODELS = msgspec.json.encode(
    {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": _CREATED, "owned_by": "cal-mock"}
            for name in MODELS
        ],
    }
)

GEMINI_MODELS = msgspec.json.encode(
    {
        "models": [
            {
                "name": f"models/{name}",
                "version": "001",
                "displayName": name.replace("-", " ").title(),
                "description": "A model served by the cal mock provider.",
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
                "thinking": True,
            }
            for name in MODELS
        ]
    }
)
