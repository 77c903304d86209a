"""What the upstream answered, put on the Exchange record (usage, model, stop reasons)."""

from __future__ import annotations

from cal.capture.model import Exchange, Usage
from cal.usage.extract import AnswerSummary


def record_answer(exchange: Exchange, summary: AnswerSummary) -> None:
    """Copy a summary of the upstream's answer onto the record, usage in the record's terms."""
    exchange.response_model = summary.model
    exchange.finish_reasons = summary.finish_reasons
    usage = summary.usage
    if usage is not None:
        exchange.usage = Usage(
            input_tokens=usage.uncached_in,
            output_tokens=usage.out_total,
            cache_read_tokens=usage.cache_read,
            cache_write_tokens=usage.cache_write,
            reasoning_tokens=usage.reasoning,
            source="upstream",
        )
