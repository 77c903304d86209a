"""`cal endpoint …` run in-process through cal.cli.run, against a store in tmp_path."""

from __future__ import annotations

import io
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from cal.cli import run
from cal.mock import MockProvider
from cal.serve import serve_asgi

KEY = "sk-ant-api03-CLEAR-KEY-abcdefghijklmnop"


class Cli:
    def __init__(self, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.data_dir, self.capsys = data_dir, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run(["endpoint", *args, "--data-dir", str(self.data_dir)])
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "data", capsys)


def _add(cli: Cli, name: str, *extra: str) -> None:
    code, _, err = cli(
        "add", name, "--url", "https://api.anthropic.com", "--format", "anthropic", *extra
    )
    assert (code, err) == (0, "")


def test_add_and_list(cli: Cli) -> None:
    code, out, _ = cli(
        "add",
        "main",
        "--url",
        "https://api.anthropic.com",
        "--format",
        "anthropic",
        "--api-key",
        KEY,
        "--model-map",
        "*=claude-haiku-4-5",
        "--model-map",
        "big=claude-opus-4",
        "--priority",
        "5",
    )
    assert code == 0
    assert "added endpoint 'main'" in out
    assert KEY not in out
    _add(cli, "spare", "--api-key-env", "SPARE_KEY", "--disabled")

    code, out, _ = cli("list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "FORMAT", "PRIORITY", "STATE", "URL", "KEY"]
    assert lines[1].split() == [
        "*",
        "main",
        "anthropic",
        "5",
        "enabled",
        "https://api.anthropic.com",
        "sk-a…mnop",
    ]
    assert lines[2].split()[:4] == ["spare", "anthropic", "100", "disabled"]
    assert "$SPARE_KEY (not set)" in lines[2]
    assert KEY not in out


def test_list_json_masks_keys(cli: Cli) -> None:
    _add(cli, "main", "--api-key", KEY, "--model-map", "*=m")
    code, out, _ = cli("list", "--json")
    assert code == 0
    rows: list[dict[str, Any]] = msgspec.json.decode(out)
    assert rows == [
        {
            "name": "main",
            "format": "anthropic",
            "url": "https://api.anthropic.com",
            "priority": 100,
            "enabled": True,
            "active": True,
            "api_key": "sk-a…mnop",
            "api_key_env": None,
            "model_map": {"*": "m"},
        }
    ]


def test_list_when_empty_says_how_to_add(cli: Cli) -> None:
    code, out, _ = cli("list")
    assert code == 0
    assert "cal endpoint add" in out


def test_api_key_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(KEY + "\n"))
    _add(cli, "main", "--api-key", "-")
    _, out, _ = cli("list", "--json")
    assert msgspec.json.decode(out)[0]["api_key"] == "sk-a…mnop"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "api.anthropic.com"], "invalid URL"),
        (["--url", "https://h", "--api-key", "k", "--api-key-env", "V"], "not both"),
        (["--url", "https://h", "--model-map", "nomapping"], "FROM=TO"),
        (["--url", "https://h", "--api-key-env", "not-a-var"], "environment variable"),
    ],
)
def test_add_refuses_bad_input(cli: Cli, args: list[str], message: str) -> None:
    code, _, err = cli("add", "x", "--format", "anthropic", *args)
    assert code == 1
    assert err.startswith("cal: ")
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback


def test_unknown_format_is_a_usage_error(cli: Cli) -> None:
    code, _, _ = cli("add", "x", "--url", "https://h", "--format", "claude")
    assert code == 2


def test_duplicate_and_unknown_names(cli: Cli) -> None:
    _add(cli, "a")
    assert cli("add", "a", "--url", "https://h", "--format", "gemini")[2] == (
        "cal: endpoint 'a' already exists\n"
    )
    for command in ("remove", "enable", "disable", "switch", "test"):
        code, _, err = cli(command, "ghost")
        assert (code, err) == (1, "cal: unknown endpoint 'ghost'\n"), command


def test_enable_disable_switch_remove(cli: Cli) -> None:
    _add(cli, "a", "--priority", "1")
    _add(cli, "b", "--priority", "2")
    assert cli("switch", "b")[:2] == (0, "switched to endpoint 'b'\n")
    assert _serving(cli) == "b"
    assert cli("disable", "b")[0] == 0
    assert _serving(cli) == "a"  # a disabled choice falls back to the first enabled one
    code, _, err = cli("switch", "b")
    assert (code, err) == (1, "cal: endpoint 'b' is disabled: enable it before switching to it\n")
    assert cli("enable", "b")[0] == 0
    assert _serving(cli) == "b"  # the switch is remembered
    assert cli("remove", "b")[:2] == (0, "removed endpoint 'b'\n")
    assert _serving(cli) == "a"


def _serving(cli: Cli) -> str:
    rows = msgspec.json.decode(cli("list", "--json")[1])
    return next(row["name"] for row in rows if row["active"])


@pytest.fixture
def mock() -> Iterator[tuple[MockProvider, str]]:
    """cal's mock provider served by trio in a thread (the CLI runs its own trio.run here)."""
    app = MockProvider()
    ready: queue.Queue[tuple[trio.lowlevel.TrioToken, trio.Event, int]] = queue.Queue()

    async def serve() -> None:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            _, port = await nursery.start(serve_asgi, app, "127.0.0.1", 0, stop)
            ready.put((trio.lowlevel.current_trio_token(), stop, port))

    thread = threading.Thread(target=trio.run, args=(serve,), daemon=True)
    thread.start()
    token, stop, port = ready.get(timeout=10)
    yield app, f"http://127.0.0.1:{port}"
    trio.from_thread.run_sync(stop.set, trio_token=token)
    thread.join(timeout=10)


def test_test_command_reports_ok_and_fail(cli: Cli, mock: tuple[MockProvider, str]) -> None:
    app, url = mock
    _add_local(cli, "good", url, "--api-key", KEY)
    code, out, _ = cli("test", "good", "--timeout", "10")
    assert code == 0
    assert out.split()[:3] == ["ok", "anthropic", "200"]
    assert out.rstrip().endswith('ms  "Hello from the cal mock provider. You said: ping"')
    assert app.received[-1].header("x-api-key") == KEY
    code, out, _ = cli("test", "good", "--model", "m+status=401", "--timeout", "10")
    assert code == 1
    assert out.split()[:3] == ["fail", "anthropic", "401"]
    assert out.rstrip().endswith("ms  HTTP 401 (cal mock fault).")


def test_test_command_reads_the_env_var_at_use_time(
    cli: Cli, mock: tuple[MockProvider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, url = mock
    _add_local(cli, "env", url, "--api-key-env", "CAL_TEST_PROBE_KEY")
    monkeypatch.delenv("CAL_TEST_PROBE_KEY", raising=False)
    code, _, err = cli("test", "env")
    assert (code, err) == (1, "cal: $CAL_TEST_PROBE_KEY (the key of endpoint 'env') is not set\n")
    monkeypatch.setenv("CAL_TEST_PROBE_KEY", KEY)
    assert cli("test", "env", "--timeout", "10")[0] == 0
    assert app.received[-1].header("x-api-key") == KEY


def test_test_command_refuses_a_bad_timeout(cli: Cli) -> None:
    _add(cli, "a")
    code, _, err = cli("test", "a", "--timeout", "0")
    assert (code, err) == (1, "cal: --timeout must be more than 0 seconds, got 0\n")


def test_test_command_reports_an_unreachable_endpoint(cli: Cli) -> None:
    with socket.socket() as sock:  # free a moment ago, no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _add_local(cli, "gone", f"http://127.0.0.1:{port}")
    code, out, err = cli("test", "gone", "--timeout", "5")
    assert (code, err) == (1, "")
    assert out.split()[:3] == ["fail", "anthropic", "---"]


def _add_local(cli: Cli, name: str, url: str, *extra: str) -> None:
    code, _, err = cli("add", name, "--url", url, "--format", "anthropic", *extra)
    assert (code, err) == (0, "")


def test_importing_the_commands_stays_light() -> None:
    code = "import sys, cal.cli.endpoint; print(sorted({'trio', 'httpx'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_a_change_from_another_process_moves_data_version(tmp_path: Path) -> None:
    from cal.store.store import SECRET_KEY_FILE, Store

    data_dir = tmp_path / "data"
    with Store.open(data_dir / "code-agent-lens.db", data_dir / SECRET_KEY_FILE) as runtime:
        seen, endpoints, _ = runtime.load_snapshot()
        assert endpoints == []
        args = ["add", "late", "--url", "https://h", "--format", "gemini", "--api-key", KEY]
        subprocess.run(
            [sys.executable, "-m", "cal", "endpoint", *args, "--data-dir", str(data_dir)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert runtime.data_version() != seen
        _, endpoints, _ = runtime.load_snapshot()
        assert [(e.name, e.api_key) for e in endpoints] == [("late", KEY)]


def test_an_unusable_data_dir_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = run(["endpoint", "list", "--data-dir", str(blocker / "data")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("cal: cannot create the database file")
    assert err.count("\n") == 1
