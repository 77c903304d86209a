"""The offline price table: USD per million tokens for the models cal knows, and name matching.

Nothing here is fetched: the table ships with cal and changes only with a new `PRICE_TABLE_VERSION`.
Rates are the providers' standard (non-batch, non-priority) list prices for text tokens. Sources
and the date they were read are in `PRICE_SOURCES` / `PRICES_AS_OF`; docs/usage.md says how each
group of rows was checked (Opus 5, Sonnet 5 and Sonnet 5.5 are the least certain).

Conventions, so that nothing is counted twice:
- `input` prices uncached input only; `cache_read` prices tokens served from a prompt cache;
  `cache_write_5m` / `cache_write_1h` price tokens written to Anthropic's cache with a 5-minute or
  1-hour lifetime. Providers that do not charge for writing a cache (OpenAI, Gemini's implicit
  cache) have both write prices equal to `input`.
- `output` prices every generated token, reasoning/thinking included, as all three bill them.
- `long` rates replace the base rates for the whole request when its prompt (uncached input +
  cache reads + cache writes) exceeds `long_above` tokens (Anthropic's 1M-context Sonnet 4/4.5,
  Gemini Pro's >200k prompts, GPT-5.4's >272k prompts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

import msgspec

Provider = Literal["anthropic", "openai", "google"]

PRICE_TABLE_VERSION = "2026-11-21.1"
PRICES_AS_OF = "2026-11-21"
PRICE_SOURCES: dict[Provider, tuple[str, ...]] = {
    "anthropic": (
        "https://platform.claude.com/docs/en/about-claude/pricing",
        "https://docs.anthropic.com/en/docs/about-claude/pricing",
    ),
    "openai": (
        "https://developers.openai.com/api/docs/pricing",
        "https://platform.openai.com/docs/pricing",
    ),
    "google": ("https://ai.google.dev/gemini-api/docs/pricing",),
}


class Rates(msgspec.Struct, frozen=True):
    """USD per million tokens of each kind."""

    input: float
    output: float
    cache_read: float
    cache_write_5m: float
    cache_write_1h: float


class ModelPrice(msgspec.Struct, frozen=True):
    """The price of one model: base rates, and long-prompt rates where the provider has them."""

    model: str
    provider: Provider
    base: Rates
    long: Rates | None = None
    long_above: int | None = None
    aliases: tuple[str, ...] = ()

    def rates_for(self, prompt_tokens: int) -> tuple[Rates, bool]:
        """The rates that apply to a request with `prompt_tokens` of prompt, and whether long."""
        long, above = self.long, self.long_above
        if long is not None and above is not None and prompt_tokens > above:
            return long, True
        return self.base, False


def _claude(inp: float, out: float, read: float | None = None) -> Rates:
    """Anthropic's ladder: 5-minute writes 1.25x input, 1-hour writes 2x, reads 0.1x (or given)."""
    return Rates(inp, out, inp / 10 if read is None else read, inp * 1.25, inp * 2)


def _flat(inp: float, out: float, read: float | None = None) -> Rates:
    """No cache-write charge (writes bill as input); reads at `read`, or input when not cached."""
    return Rates(inp, out, inp if read is None else read, inp, inp)


def _a(model: str, base: Rates, *aliases: str, long: Rates | None = None) -> ModelPrice:
    return ModelPrice(model, "anthropic", base, long, 200_000 if long else None, aliases)


def _o(model: str, base: Rates, *aliases: str, long: Rates | None = None) -> ModelPrice:
    return ModelPrice(model, "openai", base, long, 272_000 if long else None, aliases)


def _g(model: str, base: Rates, *aliases: str, long: Rates | None = None) -> ModelPrice:
    return ModelPrice(model, "google", base, long, 200_000 if long else None, aliases)


_SONNET_4_LONG = _claude(6.0, 22.5)
_GEMINI_3_PRO = _flat(2.0, 12.0, 0.2)
_GEMINI_3_PRO_LONG = _flat(4.0, 18.0, 0.4)

MODELS: tuple[ModelPrice, ...] = (
    # Anthropic
    _a("claude-opus-5-5", _claude(4.0, 20.0, 0.2)),
    _a("claude-opus-5", _claude(5.0, 25.0)),
    _a("claude-sonnet-5-5", _claude(2.0, 10.0, 0.1)),
    _a("claude-sonnet-5", _claude(2.0, 10.0)),
    _a("claude-opus-4-7", _claude(5.0, 25.0)),
    _a("claude-opus-4-6", _claude(5.0, 25.0)),
    _a("claude-opus-4-5", _claude(5.0, 25.0)),
    _a("claude-opus-4-1", _claude(15.0, 75.0)),
    _a("claude-opus-4", _claude(15.0, 75.0), "claude-opus-4-0", "claude-4-opus"),
    _a("claude-sonnet-4-6", _claude(3.0, 15.0)),
    _a("claude-sonnet-4-5", _claude(3.0, 15.0), long=_SONNET_4_LONG),
    _a(
        "claude-sonnet-4",
        _claude(3.0, 15.0),
        "claude-sonnet-4-0",
        "claude-4-sonnet",
        long=_SONNET_4_LONG,
    ),
    _a("claude-3-7-sonnet", _claude(3.0, 15.0)),
    _a("claude-haiku-4-5", _claude(1.0, 5.0)),
    _a("claude-3-5-haiku", _claude(0.8, 4.0)),
    _a("claude-3-haiku", Rates(0.25, 1.25, 0.03, 0.30, 0.50)),
    _a("claude-3-opus", _claude(15.0, 75.0)),
    # OpenAI (cache writes are not charged; reads are "cached input")
    _o("gpt-5.4", _flat(2.5, 15.0, 0.25), long=_flat(5.0, 22.5, 0.5)),
    _o("gpt-5.4-mini", _flat(0.75, 4.5, 0.075)),
    _o("gpt-5.4-nano", _flat(0.2, 1.25, 0.02)),
    _o("gpt-5.2", _flat(1.75, 14.0, 0.175)),
    _o("gpt-5.2-pro", _flat(21.0, 168.0)),
    _o("gpt-5.1", _flat(1.25, 10.0, 0.125), "gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5.1-chat"),
    _o("gpt-5.1-codex-mini", _flat(0.25, 2.0, 0.025)),
    _o("gpt-5", _flat(1.25, 10.0, 0.125), "gpt-5-codex", "gpt-5-chat"),
    _o("gpt-5-mini", _flat(0.25, 2.0, 0.025)),
    _o("gpt-5-nano", _flat(0.05, 0.4, 0.005)),
    _o("gpt-5-pro", _flat(15.0, 120.0)),
    _o("gpt-4.1", _flat(2.0, 8.0, 0.5)),
    _o("gpt-4.1-mini", _flat(0.4, 1.6, 0.1)),
    _o("gpt-4.1-nano", _flat(0.1, 0.4, 0.025)),
    _o("gpt-4o", _flat(2.5, 10.0, 1.25)),
    _o("gpt-4o-mini", _flat(0.15, 0.6, 0.075)),
    _o("o3", _flat(2.0, 8.0, 0.5)),
    _o("o3-pro", _flat(20.0, 80.0)),
    _o("o3-mini", _flat(1.1, 4.4, 0.55)),
    _o("o4-mini", _flat(1.1, 4.4, 0.275)),
    _o("o1", _flat(15.0, 60.0, 7.5)),
    # Google Gemini (paid tier, text; implicit-cache hits at the context-caching rate)
    _g("gemini-3.1-pro", _GEMINI_3_PRO, long=_GEMINI_3_PRO_LONG),
    _g("gemini-3-pro", _GEMINI_3_PRO, long=_GEMINI_3_PRO_LONG),
    _g("gemini-3-flash", _flat(0.5, 3.0, 0.05)),
    _g("gemini-2.5-pro", _flat(1.25, 10.0, 0.125), long=_flat(2.5, 15.0, 0.25)),
    _g("gemini-2.5-flash", _flat(0.3, 2.5, 0.03)),
    _g("gemini-2.5-flash-lite", _flat(0.1, 0.4, 0.01)),
    _g("gemini-2.0-flash", _flat(0.1, 0.4, 0.025)),
)
"""Every priced model, by canonical name (the provider's alias without a date)."""


class PriceTable:
    """Model name → price, tolerant of dates, prefixes and provider spellings."""

    def __init__(self, models: tuple[ModelPrice, ...] = MODELS) -> None:
        self.version = PRICE_TABLE_VERSION
        self.as_of = PRICES_AS_OF
        self._by_name: dict[str, ModelPrice] = {}
        for price in models:
            for name in (price.model, *price.aliases):
                self._by_name[name] = price

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The price of `model`, or None when the table does not know it (never a guess)."""
        for candidate in _candidates(model or ""):
            found = self._by_name.get(candidate)
            if found is not None:
                return found
        return None

    def __len__(self) -> int:
        return len({p.model for p in self._by_name.values()})


# Suffixes that name a snapshot of a model without changing its price, tried one at a time.
_SNAPSHOT_SUFFIXES = (
    re.compile(r"-\d{8}$"),  # claude-sonnet-4-5-20250929
    re.compile(r"-\d{4}-\d{2}-\d{2}$"),  # gpt-4.1-2025-04-14
    re.compile(r"-latest$"),  # claude-3-7-sonnet-latest, gpt-5-chat-latest
    re.compile(r"-preview(-\d{2}-\d{2,4})?$"),  # gemini-2.5-flash-preview-09-2025
    re.compile(r"-exp(-\d{2}-\d{2,4})?$"),
    re.compile(r"-\d{3}$"),  # gemini-2.0-flash-001
)
_VERSION_TAIL = re.compile(r"(-v\d+(:\d+)?|@[\w.-]+|\[[^\]]*\])$")  # Bedrock, Vertex, [1m]
_BEDROCK_HEAD = re.compile(r"^((us|eu|apac|global|jp|au)\.)?anthropic\.")
_CLAUDE_DOTS = re.compile(r"(?<=\d)\.(?=\d)")


def normalize_model(model: str) -> str:
    """A model name reduced to the spelling the table uses, snapshot suffixes kept.

    `models/gemini-2.5-pro` → `gemini-2.5-pro`; `anthropic/claude-sonnet-4.5` →
    `claude-sonnet-4-5`; `us.anthropic.claude-opus-4-1-20250805-v1:0` →
    `claude-opus-4-1-20250805`; `claude-sonnet-4-5@20250929` → `claude-sonnet-4-5`.
    """
    name = model.strip().lower()
    name = name.rsplit("/", 1)[-1]  # provider/, models/, an @endpoint/ pin
    name = _BEDROCK_HEAD.sub("", name)
    previous = None
    while previous != name:
        previous, name = name, _VERSION_TAIL.sub("", name)
    if name.startswith("claude"):
        name = _CLAUDE_DOTS.sub("-", name)
    return name


def candidate_names(model: str) -> list[str]:
    """The names to try for `model`, most specific first (the normalised name, then each snapshot
    suffix stripped)."""
    return list(_candidates(model))


def _candidates(model: str) -> Iterator[str]:
    name = normalize_model(model)
    if not name:
        return
    yield name
    changed = True
    while changed:
        changed = False
        for suffix in _SNAPSHOT_SUFFIXES:
            shorter = suffix.sub("", name)
            if shorter != name and shorter:
                name = shorter
                yield name
                changed = True


DEFAULT_TABLE = PriceTable()
"""The shipped table (read-only after construction)."""
