"""`cal endpoint add` with a credential pool (repeated --api-key) and per-endpoint timeouts."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cal.cli import run
from cal.config import load
from cal.store.store import open_store

KEYS = ("sk-ant-pool-key-one-000000000001", "sk-ant-pool-key-two-000000000002")


def _cli(data_dir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["endpoint", *args, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_a_pool_with_timeouts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    code, out, err = _cli(
        data,
        capsys,
        "add",
        "pool",
        "--url",
        "https://api.anthropic.com",
        "--format",
        "anthropic",
        "--api-key",
        KEYS[0],
        "--api-key",
        KEYS[1],
        "--first-byte-timeout",
        "45",
        "--idle-timeout",
        "20",
    )
    assert (code, err) == (0, "")
    assert "2 keys stored encrypted" in out
    code, out, _ = _cli(data, capsys, "list", "--json")
    row = msgspec.json.decode(out)[0]
    assert row["api_keys"] == ["sk-a…0001", "sk-a…0002"]
    assert row["timeouts"] == {"first_byte_timeout_s": 45.0, "idle_timeout_s": 20.0}
    code, out, _ = _cli(data, capsys, "list")
    assert "sk-a…0001 (+1 more)" in out
    assert not any(key in out for key in KEYS)
    with open_store(load({"data_dir": data}, environ={})) as store:
        assert store.get_endpoint("pool").api_keys == KEYS


def test_a_pool_and_an_env_var_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(
        tmp_path / "data",
        capsys,
        "add",
        "p",
        "--url",
        "https://api.anthropic.com",
        "--format",
        "anthropic",
        "--api-key",
        KEYS[0],
        "--api-key-env",
        "VAR",
    )
    assert code == 1 and "not both" in err
