"""One real agent CLI run through a real `cal obs up --demo`, inside the caller's network namespace.

Run by tests/integration/test_real_clients.py under `unshare -n` (loopback only), so cal, its demo
mock provider and the agent share a network of their own and the agent cannot reach outside hosts.
Standard library only. Prints one JSON report on stdout:
`{"agent", "rc", "seconds", "stdout", "stderr", "requests": [...rows...], "headers": {id: [...]},
"cal_log"}`.

    python agent_session.py claude|codex-http|codex-ws --bin-dir DIR --work DIR --prompt TEXT
        [--upstream demo|responses]

`--upstream demo` (default): `cal obs up --demo`, whose endpoint is the mock speaking Anthropic.
`--upstream responses`: a `cal mock-upstream` process added as an openai-responses endpoint with
`cal endpoint add`, so Codex's WebSocket turns are relayed to the mock's own WebSocket.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

READY_S = 30.0
AGENT_S = 120.0

CODEX_CONFIG = """\
model = "mock-gpt"
model_provider = "cal"

[model_providers.cal]
name = "cal gateway"
base_url = "{base_url}"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = {websockets}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def wait_ready(url: str, cal: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if cal.poll() is not None:
            raise RuntimeError(f"cal exited with {cal.returncode} before it was ready")
        try:
            get_json(url + "/health")
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"cal was not ready within {READY_S:g} s")


def agent_command(agent: str, bin_dir: Path, prompt: str) -> list[str]:
    if agent == "claude":
        return [str(bin_dir / "claude"), "-p", prompt, "--output-format", "json"]
    return [str(bin_dir / "codex"), "exec", "--skip-git-repo-check", prompt]


def agent_env(agent: str, home: Path, gateway: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
    }
    if agent == "claude":
        env |= {
            "ANTHROPIC_BASE_URL": gateway + "/claude",
            "ANTHROPIC_API_KEY": "sk-ant-cal-integration",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
        }
        return env
    websockets = "true" if agent == "codex-ws" else "false"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    config = CODEX_CONFIG.format(base_url=gateway + "/codex/v1", websockets=websockets)
    (codex_home / "config.toml").write_text(config)
    env["OPENAI_API_KEY"] = "sk-cal-integration"
    return env


def recorded(portal: str, data_dir: Path) -> tuple[list[Any], dict[str, Any]]:
    """The rows the portal lists, and each request's recorded client headers (from its bundle)."""
    deadline = time.monotonic() + 10
    rows: list[Any] = []
    while time.monotonic() < deadline:  # the capture writer indexes shortly after the response
        rows = get_json(portal + "/debug/obs/api/requests?limit=200")["requests"]
        if rows:
            time.sleep(0.5)
            rows = get_json(portal + "/debug/obs/api/requests?limit=200")["requests"]
            break
        time.sleep(0.2)
    headers: dict[str, Any] = {}
    for row in rows:
        path = data_dir / "observability" / row["bundle_path"] / "ingress.request.headers.json"
        if path.is_file():
            headers[row["request_id"]] = json.loads(path.read_text())
    return rows, headers


def start_responses_mock(work: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    """`cal mock-upstream` on a free port, added as the openai-responses endpoint `mock-responses`."""
    port = free_port()
    log = (work / "mock.log").open("wb")
    mock = subprocess.Popen(
        [sys.executable, "-m", "cal", "mock-upstream", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_ready(f"http://127.0.0.1:{port}", mock)
    add = ["endpoint", "add", "mock-responses", "--url", f"http://127.0.0.1:{port}/v1"]
    add += ["--format", "openai-responses", "--data-dir", str(data_dir)]
    subprocess.run([sys.executable, "-m", "cal", *add], check=True, capture_output=True)
    return mock


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    data_dir, home = work / "data", work / "home"
    home.mkdir(parents=True, exist_ok=True)
    gateway = f"http://127.0.0.1:{free_port()}"
    portal = f"http://127.0.0.1:{free_port()}"
    mock = start_responses_mock(work, data_dir) if args.upstream == "responses" else None
    cal_log = (work / "cal.log").open("wb")
    up = ["obs", "up", "--data-dir", str(data_dir)]
    up += ["--gateway", gateway.removeprefix("http://"), "--portal", portal.removeprefix("http://")]
    if mock is None:
        up.append("--demo")
    cal = subprocess.Popen(
        [sys.executable, "-m", "cal", *up],
        stdout=cal_log,
        stderr=subprocess.STDOUT,
    )
    report: dict[str, Any] = {"agent": args.agent, "upstream": args.upstream}
    try:
        wait_ready(gateway, cal)
        started = time.monotonic()
        done = subprocess.run(
            agent_command(args.agent, Path(args.bin_dir).resolve(), args.prompt),
            env=agent_env(args.agent, home, gateway),
            cwd=work,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=AGENT_S,
            check=False,
        )
        report |= {
            "rc": done.returncode,
            "seconds": round(time.monotonic() - started, 2),
            "stdout": done.stdout.decode("utf-8", "replace"),
            "stderr": done.stderr.decode("utf-8", "replace")[-4000:],
        }
        report["requests"], report["headers"] = recorded(portal, data_dir)
    finally:
        stop(cal)
        if mock is not None:
            stop(mock)
        cal_log.close()
        report["cal_rc"] = cal.returncode
        report["cal_log"] = (work / "cal.log").read_text(errors="replace")[-4000:]
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("agent", choices=["claude", "codex-http", "codex-ws"])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--upstream", choices=["demo", "responses"], default="demo")
    print(json.dumps(run(parser.parse_args())))


if __name__ == "__main__":
    main()
