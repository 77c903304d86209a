"""What a request cost, from its normalised usage and the offline price table (pure).

Each token is priced once, by kind: uncached input at `input`, cache reads at `cache_read`, cache
writes at the 5-minute write price (or the 1-hour price for the part the caller says was written
for an hour), output at `output`. Reasoning tokens are part of the output count (the providers bill
them as output), so they are not priced again. An unknown model has no cost (None), never 0.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from cal.usage.prices import DEFAULT_TABLE, ModelPrice, PriceTable

PER_TOKEN = 1_000_000
"""Prices are per million tokens."""


class TokenCounts(Protocol):
    """The normalised usage fields cost needs (cal.capture.model.Usage has them)."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...


class CostBreakdown(msgspec.Struct, frozen=True):
    """The cost of one request in USD, by kind of token, and which price was used."""

    model: str
    """The table's canonical name for the model that was priced."""
    input: float
    output: float
    cache_read: float
    cache_write: float
    total: float
    long_context: bool
    table_version: str


def price_usage(
    model: str | None,
    usage: TokenCounts,
    *,
    cache_write_1h_tokens: int = 0,
    table: PriceTable | None = None,
) -> CostBreakdown | None:
    """The cost of `usage` on `model`, itemised; None when the table has no price for `model`.

    `cache_write_1h_tokens` is the part of `usage.cache_write_tokens` written with Anthropic's
    1-hour lifetime (default none: every write is priced as a 5-minute write).
    """
    table = table or DEFAULT_TABLE
    price = table.lookup(model)
    if price is None:
        return None
    return _breakdown(price, usage, cache_write_1h_tokens, table.version)


def cost_usd(
    model: str | None, usage: TokenCounts, *, table: PriceTable | None = None
) -> float | None:
    """The cost of `usage` on `model` in USD, or None for a model the table does not know."""
    breakdown = price_usage(model, usage, table=table)
    return None if breakdown is None else breakdown.total


def _breakdown(price: ModelPrice, usage: TokenCounts, write_1h: int, version: str) -> CostBreakdown:
    inp = max(0, usage.input_tokens)
    out = max(0, usage.output_tokens)
    read = max(0, usage.cache_read_tokens)
    write = max(0, usage.cache_write_tokens)
    write_1h = min(max(0, write_1h), write)
    rates, long_context = price.rates_for(inp + read + write)
    parts = (
        inp * rates.input,
        out * rates.output,
        read * rates.cache_read,
        (write - write_1h) * rates.cache_write_5m + write_1h * rates.cache_write_1h,
    )
    in_usd, out_usd, read_usd, write_usd = (p / PER_TOKEN for p in parts)
    return CostBreakdown(
        model=price.model,
        input=in_usd,
        output=out_usd,
        cache_read=read_usd,
        cache_write=write_usd,
        total=sum(parts) / PER_TOKEN,
        long_context=long_context,
        table_version=version,
    )
