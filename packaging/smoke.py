"""Smoke-test a built `cal` executable: --version, `obs up --demo` on free ports, one streamed
request through the gateway, then a clean stop. Standard library only.

Usage: python3 packaging/smoke.py dist/cal
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

TIMEOUT_S = 60.0


def _lines(stream: object, sink: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.put(line.rstrip("\n"))


def _wait_for(lines: queue.Queue[str], pattern: str, seen: list[str]) -> re.Match[str]:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if (match := re.search(pattern, line)) is not None:
            return match
    raise SystemExit(f"smoke: no line matching {pattern!r}; output was:\n" + "\n".join(seen))


def _stream_request(gateway: str) -> list[bytes]:
    body = (
        b'{"model":"claude-demo","max_tokens":64,"stream":true,'
        b'"messages":[{"role":"user","content":"hello from the smoke test"}]}'
    )
    request = urllib.request.Request(
        gateway + "/v1/messages",
        data=body,
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
        assert response.headers["x-cal-request-id"], "no X-CAL-Request-Id"
        return list(response)


def main(binary: str) -> int:
    started = time.perf_counter()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    print(
        f"smoke: cal --version -> {version.stdout.strip()} in {time.perf_counter() - started:.2f} s"
    )
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [
                binary,
                "obs",
                "up",
                "--demo",
                "--data-dir",
                data_dir,
                "--gateway",
                "127.0.0.1:0",
                "--portal",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            **({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {}),  # type: ignore[attr-defined]
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
        seen: list[str] = []
        try:
            gateway = _wait_for(lines, r"gateway\s+(http://\S+)", seen).group(1)
            _wait_for(lines, r"portal\s+(http://\S+)", seen)
            events = _stream_request(gateway)
            text = b"".join(events)
            assert b"message_stop" in text, text[-500:]
            print(
                f"smoke: streamed request through {gateway}: {len(events)} lines, ends with message_stop"
            )
        finally:
            if os.name == "nt":
                process.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
            else:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                raise SystemExit("smoke: cal did not stop after SIGTERM") from None
        _wait_for(lines, r"cal stopped", seen)
        if code != 0:
            raise SystemExit(f"smoke: cal exited with {code}")
        print("smoke: clean stop, exit code 0")
    print(f"smoke: passed ({Path(binary).stat().st_size / 1e6:.1f} MB binary)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist/cal"))
