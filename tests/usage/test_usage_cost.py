"""Cost arithmetic: worked examples, each checked by hand in the comment above it."""

from __future__ import annotations

import pytest

from cal.capture.model import Usage
from cal.usage.cost import cost_usd, price_usage
from cal.usage.prices import PRICE_TABLE_VERSION, ModelPrice, PriceTable, Rates


def test_anthropic_with_cache_reads_and_writes() -> None:
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 5-minute write (per MTok)
    #   1,000 x 3 + 500 x 15 + 20,000 x 0.30 + 4,000 x 3.75
    # = 3,000 + 7,500 + 6,000 + 15,000 = 31,500 micro-dollars = $0.0315
    usage = Usage(
        input_tokens=1_000, output_tokens=500, cache_read_tokens=20_000, cache_write_tokens=4_000
    )
    breakdown = price_usage("claude-sonnet-4-5-20250929", usage)
    assert breakdown is not None
    assert breakdown.model == "claude-sonnet-4-5"
    assert breakdown.input == pytest.approx(0.003)
    assert breakdown.output == pytest.approx(0.0075)
    assert breakdown.cache_read == pytest.approx(0.006)
    assert breakdown.cache_write == pytest.approx(0.015)
    assert breakdown.total == pytest.approx(0.0315)
    assert not breakdown.long_context
    assert breakdown.table_version == PRICE_TABLE_VERSION
    assert cost_usd("claude-sonnet-4-5-20250929", usage) == pytest.approx(0.0315)


def test_anthropic_one_hour_writes_cost_double_input() -> None:
    # as above, but 1,000 of the 4,000 written tokens live an hour ($6/MTok):
    #   3,000 x 3.75 + 1,000 x 6 = 11,250 + 6,000 = 17,250 micro-dollars for the writes
    #   total = 3,000 + 7,500 + 6,000 + 17,250 = 33,750 micro-dollars = $0.03375
    usage = Usage(
        input_tokens=1_000, output_tokens=500, cache_read_tokens=20_000, cache_write_tokens=4_000
    )
    breakdown = price_usage("claude-sonnet-4-5", usage, cache_write_1h_tokens=1_000)
    assert breakdown is not None
    assert breakdown.cache_write == pytest.approx(0.01725)
    assert breakdown.total == pytest.approx(0.03375)
    # a 1-hour count larger than the writes is capped at the writes
    capped = price_usage("claude-sonnet-4-5", usage, cache_write_1h_tokens=10**9)
    assert capped is not None
    assert capped.cache_write == pytest.approx(4_000 * 6 / 1e6)


def test_opus_5_5_session_turn() -> None:
    # claude-opus-5-5: $4 in, $20 out, $0.20 read, $8 1-hour write
    #   2,000 x 4 + 140,000 x 0.20 + 8,000 x 8 + 1,500 x 20
    # = 8,000 + 28,000 + 64,000 + 30,000 = 130,000 micro-dollars = $0.13
    usage = Usage(
        input_tokens=2_000,
        output_tokens=1_500,
        cache_read_tokens=140_000,
        cache_write_tokens=8_000,
    )
    breakdown = price_usage("claude-opus-5-5", usage, cache_write_1h_tokens=8_000)
    assert breakdown is not None
    assert breakdown.total == pytest.approx(0.13)


def test_anthropic_long_context_prices_the_whole_request_at_long_rates() -> None:
    # prompt = 10,000 + 195,000 = 205,000 > 200,000: $6 in, $22.50 out, $0.60 read
    #   10,000 x 6 + 1,000 x 22.5 + 195,000 x 0.6 = 60,000 + 22,500 + 117,000
    # = 199,500 micro-dollars = $0.1995
    usage = Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=195_000)
    breakdown = price_usage("claude-sonnet-4-5", usage)
    assert breakdown is not None
    assert breakdown.long_context
    assert breakdown.total == pytest.approx(0.1995)
    # exactly 200,000 prompt tokens is still the base tier: 5,000 x 3 + 1,000 x 15 + 195,000 x 0.3
    at_limit = Usage(input_tokens=5_000, output_tokens=1_000, cache_read_tokens=195_000)
    base = price_usage("claude-sonnet-4-5", at_limit)
    assert base is not None
    assert not base.long_context
    assert base.total == pytest.approx((15_000 + 15_000 + 58_500) / 1e6)


def test_openai_cached_input_and_reasoning_are_not_double_counted() -> None:
    # OpenAI said input_tokens 12,033 with 11,904 cached, output 44 of which 20 reasoning.
    # Normalised: input 129 uncached, cache_read 11,904, output 44 (reasoning inside).
    # gpt-5: $1.25 in, $0.125 cached, $10 out:
    #   129 x 1.25 + 11,904 x 0.125 + 44 x 10 = 161.25 + 1,488 + 440 = 2,089.25 micro-dollars
    usage = Usage(input_tokens=129, output_tokens=44, cache_read_tokens=11_904, reasoning_tokens=20)
    assert cost_usd("gpt-5-2025-08-07", usage) == pytest.approx(0.00208925)
    without_reasoning = Usage(input_tokens=129, output_tokens=44, cache_read_tokens=11_904)
    assert cost_usd("gpt-5", without_reasoning) == cost_usd("gpt-5", usage)


def test_openai_has_no_cache_write_charge() -> None:
    # gpt-4.1: writes (were any reported) bill as plain input, $2/MTok
    usage = Usage(input_tokens=1_000, cache_write_tokens=1_000, output_tokens=100)
    # 1,000 x 2 + 1,000 x 2 + 100 x 8 = 4,800 micro-dollars
    assert cost_usd("gpt-4.1", usage) == pytest.approx(0.0048)


def test_gemini_long_prompt_with_cache_hits_and_thoughts() -> None:
    # Gemini said prompt 250,000 (50,000 cached), candidates 1,500, thoughts 500.
    # Normalised: input 200,000, cache_read 50,000, output 2,000 (thoughts inside).
    # prompt 250,000 > 200,000: gemini-2.5-pro long rates $2.50 in, $0.25 cached, $15 out:
    #   200,000 x 2.5 + 50,000 x 0.25 + 2,000 x 15 = 500,000 + 12,500 + 30,000
    # = 542,500 micro-dollars = $0.5425
    usage = Usage(
        input_tokens=200_000, output_tokens=2_000, cache_read_tokens=50_000, reasoning_tokens=500
    )
    breakdown = price_usage("models/gemini-2.5-pro", usage)
    assert breakdown is not None
    assert breakdown.long_context
    assert breakdown.total == pytest.approx(0.5425)
    # the same call under the threshold: 100,000 x 1.25 + 2,000 x 10 = 145,000 micro-dollars
    short = Usage(input_tokens=100_000, output_tokens=2_000)
    assert cost_usd("gemini-2.5-pro", short) == pytest.approx(0.145)


def test_gemini_flash_small_call() -> None:
    # gemini-2.5-flash: $0.30 in, $2.50 out: 10,000 x 0.3 + 800 x 2.5 = 3,000 + 2,000 = $0.005
    usage = Usage(input_tokens=10_000, output_tokens=800)
    assert cost_usd("gemini-2.5-flash-preview-09-2025", usage) == pytest.approx(0.005)


def test_unknown_model_costs_none_not_zero() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    assert cost_usd("gpt-6.1-sol", usage) is None
    assert price_usage(None, usage) is None
    assert cost_usd("claude-haiku-4-5", Usage()) == 0.0


def test_negative_counts_are_treated_as_zero() -> None:
    usage = Usage(input_tokens=-5, output_tokens=100)
    # claude-haiku-4-5: 100 x 5 = 500 micro-dollars
    assert cost_usd("claude-haiku-4-5", usage) == pytest.approx(0.0005)


def test_a_custom_table() -> None:
    table = PriceTable((ModelPrice("local-model", "openai", Rates(1.0, 2.0, 0.5, 1.0, 1.0)),))
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert cost_usd("local-model", usage, table=table) == pytest.approx(3.5)
    assert cost_usd("gpt-5", usage, table=table) is None
