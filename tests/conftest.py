"""Shared test setup: a clean environment per test and a settings factory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cal import config

_CLEARED_PREFIXES = ("CODE_AGENT_LENS_", "OTEL_")
_CLEARED = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's cal, OpenTelemetry or proxy settings."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _CLEARED:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., config.Settings]:
    """`make_settings(**overrides)`: settings on free ports with a data dir under tmp_path."""

    def make(**overrides: Any) -> config.Settings:
        base: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "gateway_port": 0,
            "portal_port": 0,
            "shutdown_grace_s": 1.0,
        }
        base.update(overrides)
        return config.load(base, environ={})

    return make
