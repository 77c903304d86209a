"""The real Claude Code and Codex CLIs through a real `cal obs up --demo`, in a loopback-only netns.

The CLIs come from npm (`.ci/install-agent-clis.sh`, pinned versions, into .tmp/agents); when they
are missing the session fixture runs that script once, and the tests skip (saying why) only when
npm could not install them. Each run happens in `unshare -n` with only `lo` up, because both CLIs
try to reach outside hosts (update checks, plugin sync): cal, its demo mock provider and the agent
share that namespace. tests/integration/agent_session.py drives one run and reports JSON.

Checked: the CLI exits 0 and prints the mock's deterministic reply, and the gateway recorded the
requests (the portal's `/debug/obs/api/requests`, and each request's recorded headers). Codex runs
with `supports_websockets = false` (HTTP SSE) and with websockets on: through the demo's Anthropic
endpoint (the bridge's HTTP path: a prewarm answered by cal and a turn marked
`x-cal-transport: websocket`, no HTTP fallback), and through an openai-responses endpoint on a
`cal mock-upstream` (turns relayed socket to socket).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO / ".ci" / "install-agent-clis.sh"
SESSION_SCRIPT = Path(__file__).with_name("agent_session.py")
REPLY = "Hello from the cal mock provider. You said: "
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 240


def _agents_dir() -> Path:
    return Path(os.environ.get("CAL_AGENTS_DIR") or REPO / ".tmp" / "agents")


@pytest.fixture(scope="session")
def agent_bin() -> Path:
    """The directory holding `claude` and `codex`, installed by npm if they are not there yet."""
    bin_dir = _agents_dir() / "node_modules" / ".bin"
    if (bin_dir / "claude").exists() and (bin_dir / "codex").exists():
        return bin_dir
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed, so Claude Code and Codex could not be installed")
    done = subprocess.run(
        [str(INSTALL_SCRIPT)], capture_output=True, timeout=INSTALL_TIMEOUT_S, check=False
    )
    if done.returncode != 0 or not (bin_dir / "claude").exists():
        tail = (done.stdout + done.stderr).decode("utf-8", "replace")[-600:]
        pytest.skip(f"npm could not install the agent CLIs ({INSTALL_SCRIPT.name}): {tail}")
    return bin_dir


def _works(prefix: list[str]) -> bool:
    try:
        probe = subprocess.run(
            [*prefix, "sh", "-c", "ip link set lo up"], capture_output=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def netns() -> list[str]:
    """The command prefix that runs a program in a fresh network namespace with only `lo` up."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("no loopback-only network namespace: `unshare` or `ip` is not installed")
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):
        if _works(prefix):
            return [*prefix, "sh", "-c", 'ip link set lo up && exec "$@"', "netns"]
    pytest.skip("no loopback-only network namespace: `unshare -n` (and `unshare -rn`) failed here")


def run_agent(
    netns: list[str],
    bin_dir: Path,
    tmp_path: Path,
    agent: str,
    prompt: str,
    upstream: str = "demo",
) -> dict[str, Any]:
    command = [*netns, sys.executable, str(SESSION_SCRIPT), agent, "--upstream", upstream]
    command += ["--bin-dir", str(bin_dir), "--work", str(tmp_path), "--prompt", prompt]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    print(
        f"{agent} via {upstream}: rc {report['rc']} in {report['seconds']} s"
    )  # shown with -s / on failure
    assert report["rc"] == 0, report
    assert report["cal_rc"] == 0, report["cal_log"]
    return report


def header(report: dict[str, Any], row: dict[str, Any], name: str) -> str | None:
    recorded = report["headers"].get(row["request_id"], {}).get("headers", [])
    return next((value for key, value in recorded if key == name), None)


def test_claude_code_print_mode(netns: list[str], agent_bin: Path, tmp_path: Path) -> None:
    prompt = "hello cal from claude code"
    report = run_agent(netns, agent_bin, tmp_path, "claude", prompt)
    result = json.loads(report["stdout"])
    assert result["is_error"] is False and result["result"] == REPLY + prompt
    (row,) = [r for r in report["requests"] if r["path"] == "/claude/v1/messages"]
    assert row["client_name"] == "Claude Code" and row["source_tag"] == "claude"
    assert row["status"] == 200 and row["route"] == "anthropic->anthropic"
    assert row["output_tokens"] > 0


def test_codex_exec_over_http_sse(netns: list[str], agent_bin: Path, tmp_path: Path) -> None:
    prompt = "hello cal from codex over http"
    report = run_agent(netns, agent_bin, tmp_path, "codex-http", prompt)
    assert REPLY + prompt in report["stdout"]
    rows = report["requests"]
    assert rows and all(r["method"] == "POST" for r in rows), rows
    turns = [r for r in rows if r["path"] == "/codex/v1/responses"]
    assert turns and all(r["status"] == 200 for r in turns)
    assert turns[0]["client_name"] == "Codex" and turns[0]["route"] == "openai-responses->anthropic"
    assert all(header(report, r, "x-cal-transport") is None for r in turns)


def test_codex_exec_over_websocket(netns: list[str], agent_bin: Path, tmp_path: Path) -> None:
    prompt = "hello cal from codex over a websocket"
    report = run_agent(netns, agent_bin, tmp_path, "codex-ws", prompt)
    assert REPLY + prompt in report["stdout"]
    rows = report["requests"]
    prewarms = [r for r in rows if r["method"] == "WS"]
    turns = [r for r in rows if r["method"] == "POST"]
    assert prewarms and all(r["path"] == "/codex/v1/responses" for r in prewarms)
    assert turns and all(r["status"] == 200 for r in turns)
    # every turn came over the socket: Codex never fell back to HTTP
    assert all(header(report, r, "x-cal-transport") == "websocket" for r in turns), rows
    assert report["seconds"] < 60  # a failed upgrade costs Codex ~6 s of retries per turn


def test_codex_websocket_relayed_to_upstream_websocket(
    netns: list[str], agent_bin: Path, tmp_path: Path
) -> None:
    prompt = "hello cal from codex, socket to socket"
    report = run_agent(netns, agent_bin, tmp_path, "codex-ws", prompt, upstream="responses")
    assert REPLY + prompt in report["stdout"]
    rows = report["requests"]
    # prewarm and turn both went over the upstream's own WebSocket: no POST at all
    assert len(rows) >= 2 and all(r["method"] == "WS" for r in rows), rows
    assert all(r["endpoint"] == "mock-responses" and r["status"] == 200 for r in rows)
    assert any(r["output_tokens"] > 0 for r in rows)
    assert report["seconds"] < 60


def test_codex_tool_loop_over_websocket(netns: list[str], agent_bin: Path, tmp_path: Path) -> None:
    """A tool call and its result over the socket.

    Codex 0.169 sends the follow-up as an incremental frame (`previous_response_id` and the tool
    output only); the upstream behind the bridge's HTTP path must still get the whole history.
    """
    report = run_agent(netns, agent_bin, tmp_path, "codex-ws", "please use a tool now")
    assert "Hello from the cal mock provider. The tool returned:" in report["stdout"]
    turns = [r for r in report["requests"] if r["method"] == "POST"]
    assert len(turns) == 2 and all(r["status"] == 200 for r in turns), report["requests"]
    assert all(header(report, r, "x-cal-transport") == "websocket" for r in turns)
    # the follow-up frame carried only the tool output; cal sent the upstream the whole history
    follow_up = max(turns, key=lambda r: r["started_at"])
    assert follow_up["prompt_roles"].split(",")[-2:] == ["assistant", "tool"], follow_up
