"""`cal obs ports`, in-process: one line per port, exit code, evidence file."""

from __future__ import annotations

import socket
from pathlib import Path

import msgspec
import pytest

from cal.cli import run


@pytest.fixture
def listening_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]  # type: ignore[misc]
    sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_expect_free_and_listening(
    listening_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    free = _free_port()
    code = run(
        [
            "obs",
            "ports",
            "--expect-free",
            f"{free}",
            "--expect-listening",
            str(listening_port),
            "--evidence-dir",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out == [
        f"ok   127.0.0.1:{free} expected free, found free",
        f"ok   127.0.0.1:{listening_port} expected listening, found listening"
        + out[1].split("found listening", 1)[1],
    ]
    evidence = msgspec.json.decode((tmp_path / "obs-ports.json").read_bytes())
    assert evidence["verdict"] == "pass"
    assert [c["port"] for c in evidence["found"]] == [free, listening_port]


def test_comma_list_and_repeated_flags_and_failure(
    listening_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    free = _free_port()
    code = run(
        [
            "obs",
            "ports",
            "--expect-free",
            f"{free},{listening_port}",
            "--expect-free",
            str(free),
            "--evidence-dir",
            str(tmp_path),
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(lines) == 3
    assert lines[1].startswith(f"FAIL 127.0.0.1:{listening_port} expected free, found listening")
    assert msgspec.json.decode((tmp_path / "obs-ports.json").read_bytes())["verdict"] == "fail"


def test_bad_port_is_a_usage_error() -> None:
    assert run(["obs", "ports", "--expect-free", "abc"]) == 2
    assert run(["obs", "ports"]) == 2
