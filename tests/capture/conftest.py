"""Fixtures of the capture tests (the samples live in capture_samples.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from capture_samples import failed, make

from cal.capture.model import Exchange


@pytest.fixture
def make_exchange() -> Callable[..., Exchange]:
    return make


@pytest.fixture
def make_failed_exchange() -> Callable[..., Exchange]:
    return failed
