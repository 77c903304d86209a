"""The index row and searchable prompt text of an exchange."""

from __future__ import annotations

from collections.abc import Callable

from capture_samples import ANTHROPIC_KEY

from cal.capture.model import Exchange
from cal.capture.prompts import number_prompts
from cal.capture.rows import request_row, search_text


def test_search_text_puts_the_latest_user_prompt_first_and_is_capped() -> None:
    prompts = number_prompts(
        [("system", "S" * 100), ("user", "first"), ("assistant", "reply"), ("user", "latest")]
    )
    text = search_text(prompts)
    assert text.splitlines()[0] == "user: latest"
    assert text.index("user: first") < text.index("system: ") < text.index("assistant: reply")
    assert len(search_text(prompts, cap=20)) <= 20 + 1


def test_row_counts_roles_and_redacts_the_error_message(
    make_failed_exchange: Callable[..., Exchange],
) -> None:
    exchange = make_failed_exchange()
    exchange.error = exchange.attempts[1].error
    prompts = number_prompts([("system", "s"), ("user", "a"), ("user", "b")])
    row = request_row(exchange, prompts, bundle_path="runs/x", bundle_bytes=10, secrets=False)
    assert (row.prompt_roles, row.prompt_count, row.attempts) == ("system,user", 3, 2)
    assert row.error_kind == "connect" and row.error_message is not None
    assert ANTHROPIC_KEY not in row.error_message
    kept = request_row(exchange, [], bundle_path=None, bundle_bytes=0, secrets=True)
    assert kept.error_message is not None and ANTHROPIC_KEY in kept.error_message
