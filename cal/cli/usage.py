"""`cal usage`: request, token and cost totals from the usage ledger (see docs/usage.md)."""

import sys
import time
from pathlib import Path
from typing import Annotated

import msgspec
from cyclopts import Parameter

from cal.config import ConfigError, load
from cal.store import Database, StoreError
from cal.store.ledger import GroupColumn, report

DataDir = Annotated[
    Path | None,
    Parameter(help="Where the database lives (default: the platform's data dir)."),
]
COLUMNS = (
    ("requests", "requests"),
    ("errors", "errors"),
    ("input_tokens", "input"),
    ("output_tokens", "output"),
    ("cache_read_tokens", "cache read"),
    ("cache_write_tokens", "cache write"),
    ("unpriced", "unpriced"),
    ("cost_usd", "cost USD"),
)


def usage(
    *,
    days: int = 7,
    by: Annotated[list[GroupColumn] | None, Parameter(consume_multiple=True)] = None,
    json: bool = False,
    data_dir: DataDir = None,
) -> int:
    """Show usage totals of the last DAYS UTC days (today included).

    Args:
        days: How many days back, today included.
        by: Group by any of day, endpoint, model, source_tag (default: day).
        json: Print a JSON array instead of a table.
        data_dir: Where the database lives.
    """
    try:
        settings = load({"data_dir": data_dir})
        if not settings.db_path.exists():
            print("cal: no usage recorded yet (no database)", file=sys.stderr)
            return 1
        db = Database.open(settings.db_path)
        try:
            with db.read() as conn:
                rows = report(conn, by or ["day"], days=days, now=time.time())
        finally:
            db.close()
    except (ConfigError, StoreError, ValueError) as exc:
        print(f"cal: {exc}", file=sys.stderr)
        return 1
    if json:
        print(msgspec.json.format(msgspec.json.encode(rows)).decode())
    else:
        print(render(rows, list(by or ["day"])))
    return 0


def render(rows: list[dict[str, str | int | float]], keys: list[str]) -> str:
    """The rows as an aligned text table, with a total line."""
    header = [*keys, *(title for _, title in COLUMNS)]
    lines = [
        [str(row[k]) or "-" for k in keys] + [_cell(row[f]) for f, _ in COLUMNS] for row in rows
    ]
    totals = {f: _total(rows, f) for f, _ in COLUMNS}
    lines.append(["total", *([""] * (len(keys) - 1)), *(_cell(totals[f]) for f, _ in COLUMNS)])
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    for line in lines:
        out.append(
            "  ".join(
                c.rjust(w) if i >= len(keys) else c.ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            )
        )
    return "\n".join(out)


def _total(rows: list[dict[str, str | int | float]], field: str) -> int | float:
    return sum(v for v in (row[field] for row in rows) if not isinstance(v, str))


def _cell(value: str | int | float) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
