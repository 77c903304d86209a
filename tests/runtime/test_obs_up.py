"""`cal obs up` as a real process: detach, status, stop, the state file, a port already in use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest

from cal.config import HUGETLB_TUNABLE, huge_page_environ, load
from cal.hugepages import anon_huge_kb, glibc_has_hugetlb, huge_pages_possible

CAL = [sys.executable, "-m", "cal"]


def _cal(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAL, *args], capture_output=True, text=True, timeout=timeout)


def test_detach_status_stop(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    evidence = tmp_path / "evidence"
    up = _cal(
        "obs",
        "up",
        "--detach",
        "--data-dir",
        data,
        "--gateway",
        "127.0.0.1:0",
        "--portal",
        "127.0.0.1:0",
        "--evidence-dir",
        str(evidence),
    )
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        assert "running in the background" in up.stdout
        state = msgspec.json.decode((tmp_path / "data" / "runtime.json").read_bytes())
        if sys.platform != "win32":
            assert (tmp_path / "data" / "runtime.json").stat().st_mode & 0o777 == 0o600
        health = httpx.get(state["gateway"] + "/health", timeout=5).json()
        assert health["status"] == "ok"
        portal = httpx.get(state["portal"], timeout=5)
        assert portal.status_code == 200
        assert "CodeAgentLens Debug Portal" in portal.text
        assert state["control_token"] not in portal.text
        stop_forbidden = httpx.post(state["portal"] + "/api/control/stop", timeout=5)
        assert stop_forbidden.status_code == 403

        status = _cal("obs", "status", "--data-dir", data, "--json")
        assert status.returncode == 0
        assert msgspec.json.decode(status.stdout)["gateway_healthy"] is True

        again = _cal("obs", "up", "--data-dir", data)
        assert again.returncode == 1
        assert "already running" in again.stderr
        assert msgspec.json.decode((evidence / "obs-up.json").read_bytes())["verdict"] == "pass"
    finally:
        stop = _cal("obs", "stop", "--data-dir", data, "--evidence-dir", str(evidence))
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "cal stopped" in stop.stdout
    assert not (tmp_path / "data" / "runtime.json").exists()
    assert _cal("obs", "status", "--data-dir", data).returncode == 1
    assert msgspec.json.decode((evidence / "obs-stop.json").read_bytes())["verdict"] == "pass"


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cal(
            "obs",
            "up",
            "--data-dir",
            str(tmp_path),
            "--gateway",
            f"127.0.0.1:{port}",
            "--portal",
            "127.0.0.1:0",
        )
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("cal:")]
    assert len(errors) == 1, result.stderr
    assert f"port {port}" in errors[0]
    assert "already in use" in errors[0]
    assert "Traceback" not in result.stderr


def test_stop_when_nothing_runs(tmp_path: Path) -> None:
    result = _cal("obs", "stop", "--data-dir", str(tmp_path))
    assert result.returncode == 0
    assert "not running" in result.stdout


def _start_foreground(
    data: str, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    import os

    process = subprocess.Popen(
        [
            *CAL,
            "obs",
            "up",
            "--data-dir",
            data,
            "--gateway",
            "127.0.0.1:0",
            "--portal",
            "127.0.0.1:0",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip().startswith("gateway"):
            return process, line.split()[-1]
    raise AssertionError("the runtime did not report its gateway")


def test_endpoint_changes_reach_a_running_runtime_within_a_second(tmp_path: Path) -> None:
    import time

    data = str(tmp_path / "data")
    process, gateway = _start_foreground(data)
    try:
        assert httpx.get(gateway + "/health", timeout=5).json()["endpoints_enabled"] == 0
        added = _cal(
            "endpoint",
            "add",
            "up",
            "--url",
            "http://127.0.0.1:9",
            "--format",
            "anthropic",
            "--data-dir",
            data,
        )
        assert added.returncode == 0, added.stderr
        started = time.monotonic()
        while httpx.get(gateway + "/health", timeout=5).json()["endpoints_enabled"] != 1:
            assert time.monotonic() - started < 1.0, "the change took longer than a second"
            time.sleep(0.02)
    finally:
        process.send_signal(__import__("signal").SIGINT)
        assert process.wait(timeout=20) == 0
        output = process.stdout.read() if process.stdout else ""
    assert "cal stopped" in output
    assert "Traceback" not in output


def test_stop_gives_in_flight_streams_a_bounded_grace_period(tmp_path: Path) -> None:
    import threading
    import time

    data = str(tmp_path / "data")
    process, gateway = _start_foreground(
        data, "--demo", env={"CODE_AGENT_LENS_SHUTDOWN_GRACE_S": "1"}
    )
    received: list[bytes] = []
    ended: list[float] = []

    def stream() -> None:
        body = {
            "model": "m",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "slow please"}],
        }
        try:
            with httpx.stream(
                "POST",
                gateway + "/v1/messages",
                json=body,
                timeout=30,
                headers={"x-mock-interval-ms": "500", "x-mock-chunks": "60"},
            ) as r:
                for chunk in r.iter_raw():
                    received.append(chunk)
        except httpx.HTTPError:
            pass
        ended.append(time.monotonic())

    reader = threading.Thread(target=stream)
    reader.start()
    while not received:
        time.sleep(0.02)
    asked = time.monotonic()
    stopped = _cal("obs", "stop", "--data-dir", data)
    reader.join(timeout=20)
    assert stopped.returncode == 0
    assert process.wait(timeout=20) == 0
    # the stream (60 events × 500 ms) was cut after the 1 s grace, not run to its end
    assert ended and ended[0] - asked < 8
    assert b"message_stop" not in b"".join(received)


def test_huge_page_environment() -> None:
    env = huge_page_environ({"HOME": "/h"})
    assert env == {"HOME": "/h", "PYTHONMALLOC": "malloc", "GLIBC_TUNABLES": HUGETLB_TUNABLE}
    theirs = huge_page_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert theirs is not None
    assert theirs["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{HUGETLB_TUNABLE}"
    assert huge_page_environ({"PYTHONMALLOC": "pymalloc"}) is None  # the user's choice stands
    assert huge_page_environ({"CODE_AGENT_LENS_HUGE_PAGES": "off"}) is None
    assert huge_page_environ({"CODE_AGENT_LENS_HUGE_PAGES": "maybe"}) is None  # obs up says so
    assert load(environ={"CODE_AGENT_LENS_HUGE_PAGES": "false"}).huge_pages is False
    assert load(environ={}).huge_pages is True


def test_when_huge_pages_are_possible(tmp_path: Path) -> None:
    assert glibc_has_hugetlb("glibc 2.36") and glibc_has_hugetlb("glibc 3.0")
    assert not glibc_has_hugetlb("glibc 2.31") and not glibc_has_hugetlb("musl 1.2")
    assert not glibc_has_hugetlb("")
    never = tmp_path / "enabled"
    never.write_text("always madvise [never]\n")
    assert not huge_pages_possible(never)
    assert not huge_pages_possible(tmp_path / "missing")
    if sys.platform.startswith("linux"):
        asked = tmp_path / "asked"
        asked.write_text("always [madvise] never\n")
        here = glibc_has_hugetlb(os.confstr("CS_GNU_LIBC_VERSION") or "")
        assert huge_pages_possible(asked) is here


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


@pytest.mark.skipif(not huge_pages_possible(), reason="no transparent huge pages here")
@pytest.mark.parametrize("enabled", [True, False])
def test_runtime_keeps_its_objects_on_huge_pages(tmp_path: Path, enabled: bool) -> None:
    """`cal obs up` starts itself again, same pid, with Python's objects in malloc and malloc on
    2 MB pages; CODE_AGENT_LENS_HUGE_PAGES=false keeps it as it started."""
    data = str(tmp_path / "data")
    argv = [*CAL, "obs", "up", "--detach", "--data-dir", data]
    argv += ["--gateway", "127.0.0.1:0", "--portal", "127.0.0.1:0"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONMALLOC", "GLIBC_TUNABLES")}
    env["CODE_AGENT_LENS_HUGE_PAGES"] = str(enabled).lower()
    up = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        state = msgspec.json.decode((tmp_path / "data" / "runtime.json").read_bytes())
        assert httpx.get(state["gateway"] + "/health", timeout=5).json()["status"] == "ok"
        environ = _environ(state["pid"])
        if enabled:
            assert environ["PYTHONMALLOC"] == "malloc"
            assert HUGETLB_TUNABLE in environ["GLIBC_TUNABLES"].split(":")
            assert anon_huge_kb(state["pid"]) > 0
        else:
            assert "PYTHONMALLOC" not in environ and "GLIBC_TUNABLES" not in environ
    finally:
        stop = _cal("obs", "stop", "--data-dir", data)
    assert stop.returncode == 0, stop.stdout + stop.stderr
