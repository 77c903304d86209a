"""The calibrator converges from its prior, stays on the high side, and ignores junk."""

from __future__ import annotations

import math
import random

import msgspec
import pytest

from cal.usage.calibration import FLOOR, MARGIN, Calibrator, model_key
from cal.usage.estimate import PRIOR_TOKENS_PER_BYTE


def body(size: int) -> bytes:
    """A JSON request body of exactly `size` bytes."""
    head = b'{"model":"m","messages":[{"role":"user","content":"'
    tail = b'"}]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_an_unseen_model_gets_the_prior_with_margin() -> None:
    calibrator = Calibrator()
    payload = body(36_000)
    # 36,000 bytes x (1 / 3.6) x 1.1 = 11,000 tokens
    assert calibrator.estimate("claude-sonnet-4-5", payload) == 11_000
    assert calibrator.tokens_per_byte(None) == pytest.approx(PRIOR_TOKENS_PER_BYTE * (1 + MARGIN))


def _noisy(rng: random.Random, true_ratio: float, size: int) -> int:
    """Real tokens of a body of `size` bytes: `true_ratio` with +-10% noise."""
    return round(size * true_ratio * rng.uniform(0.9, 1.1))


def test_converges_down_from_the_prior_and_stays_high() -> None:
    rng = random.Random(7)
    calibrator = Calibrator()
    true_ratio = 0.2  # 5 bytes per token: the prior (3.6) overestimates by 39%
    for _ in range(300):
        size = rng.randrange(5_000, 400_000)
        assert calibrator.observe("claude-sonnet-4-5-20250929", size, _noisy(rng, true_ratio, size))
    learnt = calibrator.tokens_per_byte("claude-sonnet-4-5")
    assert true_ratio * 1.1 <= learnt <= true_ratio * 1.35  # closer than the prior, still above
    assert learnt < PRIOR_TOKENS_PER_BYTE * (1 + MARGIN)
    # fresh calls: the estimate is at or above the real count nearly always, and never far below
    under = 0
    for _ in range(1_000):
        size = rng.randrange(5_000, 400_000)
        real = _noisy(rng, true_ratio, size)
        estimate = calibrator.estimate("claude-sonnet-4-5", body(size))
        under += estimate < real
        assert estimate >= real * 0.95
        assert estimate <= real * 1.6
    assert under <= 10


def test_rises_quickly_when_the_model_counts_more() -> None:
    # a new tokenizer (+35% tokens): estimates must not lag below reality for long
    calibrator = Calibrator()
    true_ratio = PRIOR_TOKENS_PER_BYTE * 1.35
    size = 100_000
    for _ in range(3):
        calibrator.observe("claude-opus-4-7", size, round(size * true_ratio))
    assert calibrator.estimate("claude-opus-4-7", body(size)) >= size * true_ratio


def test_a_low_outlier_moves_the_ratio_only_a_little() -> None:
    calibrator = Calibrator()
    before = calibrator.tokens_per_byte("gpt-5")
    calibrator.observe("gpt-5", 100_000, 3_000)  # 0.03 tokens per byte: plausible, but odd
    after = calibrator.tokens_per_byte("gpt-5")
    assert after >= before * 0.94


def test_never_falls_below_the_floor() -> None:
    calibrator = Calibrator()
    for _ in range(2_000):
        calibrator.observe("gpt-5", 100_000, 2_500)
    assert calibrator.tokens_per_byte("gpt-5") == pytest.approx(
        PRIOR_TOKENS_PER_BYTE * FLOOR * (1 + MARGIN)
    )


def test_junk_observations_are_skipped() -> None:
    calibrator = Calibrator()
    assert not calibrator.observe("gpt-5", 200, 50)  # too small to say anything
    assert not calibrator.observe("gpt-5", 100_000, 0)  # no usage
    assert not calibrator.observe("gpt-5", 10_000, 100_000)  # 10 tokens per byte: not text
    image = b'{"data":"' + b"A" * 50_000 + b'","text":"' + b"x" * 5_000 + b'"}'
    assert not calibrator.observe("gpt-5", image, 3_000)  # an embedded image says nothing
    assert calibrator.snapshot() == {}


def test_dated_names_share_a_calibration_and_others_use_the_pool() -> None:
    calibrator = Calibrator()
    for _ in range(5):
        calibrator.observe("claude-sonnet-4-5-20250929", 100_000, 40_000)  # 0.4 per byte
    assert model_key("claude-sonnet-4-5-20250929") == "claude-sonnet-4-5"
    assert calibrator.snapshot()["claude-sonnet-4-5"]["observations"] == 5
    dated = calibrator.tokens_per_byte("claude-sonnet-4-5-20250929")
    assert dated == calibrator.tokens_per_byte("claude-sonnet-4-5")
    # an unseen model takes the higher of the prior and the pooled ratio (here the pool)
    assert calibrator.tokens_per_byte("gemini-2.5-pro") == pytest.approx(dated, rel=0.01)
    assert calibrator.tokens_per_byte(None) >= PRIOR_TOKENS_PER_BYTE * (1 + MARGIN)


def test_an_unseen_model_never_goes_below_the_prior() -> None:
    calibrator = Calibrator()
    for _ in range(500):
        calibrator.observe("gpt-5", 100_000, 20_000)
    assert calibrator.tokens_per_byte("o3") == pytest.approx(PRIOR_TOKENS_PER_BYTE * (1 + MARGIN))


def test_the_number_of_models_is_bounded() -> None:
    calibrator = Calibrator(max_models=3)
    for i in range(5):
        calibrator.observe(f"model-{i}", 10_000, 3_000)
    calibrator.observe("model-2", 10_000, 3_000)  # used again: kept
    calibrator.observe("model-9", 10_000, 3_000)
    assert list(calibrator.snapshot()) == ["model-4", "model-2", "model-9"]


def test_bytes_and_counts_are_the_same_observation() -> None:
    by_bytes, by_count = Calibrator(), Calibrator()
    payload = body(20_000)
    by_bytes.observe("gpt-5", payload, 4_000)
    by_count.observe("gpt-5", len(payload), 4_000)
    assert by_bytes.tokens_per_byte("gpt-5") == by_count.tokens_per_byte("gpt-5")


def test_snapshot_is_plain_data() -> None:
    calibrator = Calibrator()
    calibrator.observe("gpt-5", 10_000, 2_500)
    snap = calibrator.snapshot()
    msgspec.json.encode(snap)
    entry = snap["gpt-5"]
    assert math.isclose(entry["bytes_per_token"], 1 / entry["tokens_per_byte"], rel_tol=1e-3)
