"""Token estimates calibrated per model from the real input tokens of later calls (pure).

A Calibrator keeps, per model, a tokens-per-byte ratio learnt from calls the upstream counted:
`observe(model, body, real_input_tokens)` after each such call, `estimate(model, body)` when an
endpoint cannot count. The ratio is an asymmetric moving average: it rises fast (half way to a
higher observation) and falls slowly (5% of the way to a lower one), and the estimate adds a 10%
margin on top, so it sits above most real counts instead of around their middle. Undercounting
is the harmful direction: an agent that believes its context is smaller than it is never
compacts and then fails on the provider's limit (peers.md §5.3).

Names are matched like prices (`claude-sonnet-4-5-20250929` and `claude-sonnet-4-5` share a
ratio). A model never observed gets the larger of the prior and the ratio pooled over every
model. Observations that say little about text are skipped: small bodies (mostly fixed overhead),
bodies with embedded images or documents, and ratios no tokenizer produces.
"""

from __future__ import annotations

import msgspec

from cal.usage.estimate import PRIOR_TOKENS_PER_BYTE, BodyMeasure, measure_body, tokens_for
from cal.usage.prices import candidate_names

RISE = 0.5
"""Weight of an observation above the current ratio."""
FALL = 0.05
"""Weight of an observation below the current ratio."""
MARGIN = 0.10
"""How far above the calibrated ratio estimates are made."""
FLOOR = 0.5
"""The ratio never falls below this fraction of the prior (7.2 bytes per token)."""
MIN_TEXT_BYTES = 1_024
PLAUSIBLE_RATIO = (0.02, 1.5)
"""Tokens per byte outside this range are not a text body (bad usage or a binary payload)."""
MAX_MODELS = 256


class ModelCalibration(msgspec.Struct):
    """What has been learnt about one model (or the pool of all of them)."""

    tokens_per_byte: float
    observations: int = 0


class Calibrator:
    """Per-model tokens-per-byte ratios for local token estimates, biased high."""

    def __init__(
        self,
        *,
        prior: float = PRIOR_TOKENS_PER_BYTE,
        margin: float = MARGIN,
        max_models: int = MAX_MODELS,
    ) -> None:
        self.prior = prior
        self.margin = margin
        self.max_models = max_models
        self._pool = ModelCalibration(prior)
        self._models: dict[str, ModelCalibration] = {}

    def observe(self, model: str | None, body: bytes | int, input_tokens: int) -> bool:
        """Learn from a call the upstream counted: its request body (or the body's byte count)
        and its real input tokens, cache reads and writes included. False when skipped."""
        size = len(body) if isinstance(body, bytes) else body
        if size < MIN_TEXT_BYTES or input_tokens <= 0:  # decided before measuring anything
            return False
        measure = measure_body(body) if isinstance(body, bytes) else BodyMeasure(body, 0)
        if measure.blobs or measure.text_bytes < MIN_TEXT_BYTES:
            return False
        ratio = input_tokens / measure.text_bytes
        if not PLAUSIBLE_RATIO[0] <= ratio <= PLAUSIBLE_RATIO[1]:
            return False
        self._update(self._pool, ratio)
        key = model_key(model)
        if key:
            start = max(self.prior, self._pool.tokens_per_byte)
            calibration = self._models.pop(key, None) or ModelCalibration(start)
            self._update(calibration, ratio)
            self._models[key] = calibration  # most recently used last
            while len(self._models) > self.max_models:
                del self._models[next(iter(self._models))]
        return True

    def _update(self, calibration: ModelCalibration, ratio: float) -> None:
        current = calibration.tokens_per_byte
        weight = RISE if ratio > current else FALL
        updated = current + weight * (ratio - current)
        calibration.tokens_per_byte = max(updated, self.prior * FLOOR)
        calibration.observations += 1

    def tokens_per_byte(self, model: str | None) -> float:
        """The ratio estimates for `model` use, margin included."""
        calibration = self._models.get(model_key(model))
        if calibration is None:
            base = max(self.prior, self._pool.tokens_per_byte)
        else:
            base = calibration.tokens_per_byte
        return base * (1 + self.margin)

    def estimate(self, model: str | None, body: bytes) -> int:
        """The estimated input tokens of `body` sent to `model` (on the high side)."""
        return tokens_for(measure_body(body), self.tokens_per_byte(model))

    def snapshot(self) -> dict[str, dict[str, float | int]]:
        """What has been learnt, per model (for status and debugging)."""
        return {
            key: {
                "tokens_per_byte": round(c.tokens_per_byte, 5),
                "bytes_per_token": round(1 / c.tokens_per_byte, 3),
                "observations": c.observations,
            }
            for key, c in self._models.items()
        }


def model_key(model: str | None) -> str:
    """The name calibration is kept under: the model without snapshot suffixes ('' for none)."""
    names = candidate_names(model or "")
    return names[-1] if names else ""
