"""The offline price table: names the providers and clients use find the right price."""

from __future__ import annotations

import re

import pytest

from cal.usage.prices import (
    DEFAULT_TABLE,
    MODELS,
    PRICE_SOURCES,
    PRICE_TABLE_VERSION,
    PRICES_AS_OF,
    PriceTable,
    candidate_names,
    normalize_model,
)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("Claude-Opus-4-7", "claude-opus-4-7"),
        ("claude-opus-5-5", "claude-opus-5-5"),
        ("claude-opus-4-6[1m]", "claude-opus-4-6"),
        ("anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("@work/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-5", "gpt-5"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-5-codex", "gpt-5"),
        ("gpt-5-chat-latest", "gpt-5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5.1-codex-max", "gpt-5.1"),
        ("gpt-5.1-codex-mini", "gpt-5.1-codex-mini"),
        ("openai/gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4.1-mini", "gpt-4.1-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("o3-2025-04-16", "o3"),
        ("o4-mini", "o4-mini"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
        ("models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"),
        ("gemini-3-pro-preview", "gemini-3-pro"),
        ("gemini-3.1-pro-preview", "gemini-3.1-pro"),
        ("gemini-3-flash-preview", "gemini-3-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ],
)
def test_names_with_dates_prefixes_and_aliases_find_their_price(name: str, canonical: str) -> None:
    price = DEFAULT_TABLE.lookup(name)
    assert price is not None, name
    assert price.model == canonical


@pytest.mark.parametrize(
    "name",
    [
        "gpt-6.1-sol",  # not in this table version: unknown, not guessed
        "o3-deep-research",  # a different price from o3: no prefix guessing
        "gpt-5-pro-max",
        "claude-sonnet-9",
        "llama-3.1-70b",
        "",
        "   ",
        None,
    ],
)
def test_unknown_models_have_no_price(name: str | None) -> None:
    assert DEFAULT_TABLE.lookup(name) is None


def test_a_dated_snapshot_never_falls_back_to_a_different_family() -> None:
    # gpt-5-mini's snapshot must not become gpt-5 by stripping too much
    assert DEFAULT_TABLE.lookup("gpt-5-mini-2025-08-07").model == "gpt-5-mini"  # type: ignore[union-attr]
    assert DEFAULT_TABLE.lookup("gpt-4.1-nano-2025-04-14").model == "gpt-4.1-nano"  # type: ignore[union-attr]


def test_normalize_and_candidates() -> None:
    assert normalize_model(" Models/Gemini-2.5-Pro ") == "gemini-2.5-pro"
    assert normalize_model("claude-opus-4.5") == "claude-opus-4-5"
    assert normalize_model("gpt-4.1") == "gpt-4.1"  # dots stay outside claude names
    assert candidate_names("claude-sonnet-4-5-20250929") == [
        "claude-sonnet-4-5-20250929",
        "claude-sonnet-4-5",
    ]
    assert candidate_names("") == []


def test_the_table_is_versioned_and_sourced() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", PRICE_TABLE_VERSION)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES_AS_OF)
    assert set(PRICE_SOURCES) == {"anthropic", "openai", "google"}
    assert all(url.startswith("https://") for urls in PRICE_SOURCES.values() for url in urls)
    assert DEFAULT_TABLE.version == PRICE_TABLE_VERSION


def test_every_provider_family_is_covered() -> None:
    names = {m.model for m in MODELS}
    for wanted in (
        "claude-opus-4-5",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "gpt-5",
        "gpt-5-mini",
        "gpt-4.1",
        "gpt-4o",
        "o3",
        "o4-mini",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-3-pro",
    ):
        assert wanted in names


def test_names_and_aliases_are_unique() -> None:
    seen: list[str] = []
    for model in MODELS:
        seen += [model.model, *model.aliases]
    assert len(seen) == len(set(seen))
    assert len(PriceTable()) == len(MODELS)


def test_rates_are_sane() -> None:
    for model in MODELS:
        for rates in filter(None, (model.base, model.long)):
            assert 0 < rates.cache_read <= rates.input < rates.output, model.model
            assert rates.input <= rates.cache_write_5m <= rates.cache_write_1h, model.model
        if model.long is not None:
            assert model.long_above is not None
            assert model.long.input > model.base.input


def test_anthropic_cache_ladder() -> None:
    sonnet = DEFAULT_TABLE.lookup("claude-sonnet-4-5")
    assert sonnet is not None
    base = sonnet.base
    assert (base.input, base.output) == (3.0, 15.0)
    assert base.cache_write_5m == pytest.approx(3.75)
    assert base.cache_write_1h == pytest.approx(6.0)
    assert base.cache_read == pytest.approx(0.30)
    haiku3 = DEFAULT_TABLE.lookup("claude-3-haiku-20240307")
    assert haiku3 is not None
    assert (haiku3.base.cache_read, haiku3.base.cache_write_5m) == (0.03, 0.30)
