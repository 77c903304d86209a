"""`cal usage` reads the ledger: per day by default, grouped on request, as a table or JSON."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from cal.cli import run
from cal.config import load
from cal.store.db import Database
from cal.store.ledger import LedgerKey, Totals, add_totals, utc_day

DAY = 86_400


def _seed(data_dir: Path) -> None:
    now = time.time()
    today, yesterday, old = utc_day(now), utc_day(now - DAY), utc_day(now - 30 * DAY)
    db = Database.open(load({"data_dir": data_dir}).db_path)
    with db.write() as conn:
        add_totals(
            conn,
            {
                LedgerKey(today, "anthropic", "claude-sonnet-4-5", "claude"): Totals(
                    requests=3, input_tokens=300, output_tokens=30, cost_nano_usd=2_500_000_000
                ),
                LedgerKey(today, "openai", "gpt-5", ""): Totals(
                    requests=2, errors=1, input_tokens=200, cost_nano_usd=500_000_000
                ),
                LedgerKey(yesterday, "openai", "gpt-5", ""): Totals(requests=1, unpriced=1),
                LedgerKey(old, "openai", "gpt-5", ""): Totals(requests=100),
            },
        )
    db.close()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["usage", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_per_day_and_grouped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(tmp_path)
    code, out, _ = _run(capsys, "--json", "--data-dir", str(tmp_path))
    assert code == 0
    rows = msgspec.json.decode(out)
    assert [r["requests"] for r in rows] == [1, 5]  # yesterday, today; 30 days ago is outside
    assert rows[1]["cost_usd"] == pytest.approx(3.0)
    assert rows[0]["unpriced"] == 1
    code, out, _ = _run(
        capsys, "--json", "--days", "1", "--by", "endpoint", "model", "--data-dir", str(tmp_path)
    )
    assert code == 0
    grouped = [(r["endpoint"], r["model"], r["requests"]) for r in msgspec.json.decode(out)]
    assert grouped == [("anthropic", "claude-sonnet-4-5", 3), ("openai", "gpt-5", 2)]
    code, out, _ = _run(capsys, "--json", "--days", "60", "--data-dir", str(tmp_path))
    assert sum(r["requests"] for r in msgspec.json.decode(out)) == 106


def test_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _seed(tmp_path)
    code, out, _ = _run(capsys, "--by", "source_tag", "--data-dir", str(tmp_path))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["source_tag", "requests", "errors"]
    assert lines[1].split()[:2] == ["-", "3"]  # untagged: gpt-5 today and yesterday
    assert lines[2].split()[:2] == ["claude", "3"]
    assert lines[-1].split()[:2] == ["total", "6"]
    assert lines[-1].split()[-1] == "3.0000"


def test_no_database_yet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--data-dir", str(tmp_path / "nothing"))
    assert code == 1
    assert "no usage recorded yet" in err
