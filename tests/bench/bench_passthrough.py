"""Added latency of the gateway's same-format pass-through, against a direct call, same run.

The mock provider runs in its own process (`cal mock-upstream`), the gateway in another
(`cal obs up`), and this process is the load: one keep-alive connection to each, requests
interleaved (direct, gateway, direct, …) on a Claude-Code-shaped body built from the capture.

Usage: python tests/bench/bench_passthrough.py [--requests N] [--size-kb 50] [--stream]
                                                [--json OUT] [--capture on|off]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = ROOT.parent / "shared" / "reference" / "captures" / "claude-code-2.1.330_messages.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def claude_body(size_kb: int, stream: bool) -> bytes:
    """The captured Claude Code request, its history grown or cut to about `size_kb` KB."""
    record = msgspec.json.decode(CAPTURE.read_bytes())
    body = record["body"]
    body["stream"] = stream
    body["model"] = "claude-bench"
    messages = body["messages"]
    filler = {"role": "user", "content": [{"type": "text", "text": "x" * 2000}]}
    reply = {"role": "assistant", "content": [{"type": "text", "text": "ok " * 600}]}
    raw = msgspec.json.encode(body)
    while len(raw) < size_kb * 1024:
        messages += [filler, reply]
        raw = msgspec.json.encode(body)
    messages.append({"role": "user", "content": "bench"})
    return msgspec.json.encode(body)


def wait_line(process: subprocess.Popen[str], pattern: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"process exited before printing {pattern!r}")
        if match := re.search(pattern, line):
            return match.group(1)
    raise SystemExit(f"timed out waiting for {pattern!r}")


def call(conn: http.client.HTTPConnection, path: str, body: bytes) -> float:
    """One request; returns seconds from send to the last body byte."""
    started = time.perf_counter()
    conn.request(
        "POST",
        path,
        body=body,
        headers={
            "content-type": "application/json",
            "anthropic-version": "2023-06-01",
            "x-api-key": "sk-bench",
        },
    )
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return elapsed


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=50)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--capture", choices=["on", "off"], default="on")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    cal = [sys.executable, "-m", "cal"]
    mock_port, gateway_port = free_port(), free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="cal-bench-"))
    env = {
        **os.environ,
        "CODE_AGENT_LENS_OBS_DUMP_ENABLED": "true" if args.capture == "on" else "false",
    }
    mock = subprocess.Popen(
        [*cal, "mock-upstream", "--port", str(mock_port)], stdout=subprocess.PIPE, text=True
    )
    gateway = None
    try:
        wait_line(mock, r"(http://127\.0\.0\.1:\d+)")
        subprocess.run(
            [
                *cal,
                "endpoint",
                "add",
                "mock",
                "--url",
                f"http://127.0.0.1:{mock_port}",
                "--format",
                "anthropic",
                "--data-dir",
                str(data_dir),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        gateway = subprocess.Popen(
            [
                *cal,
                "obs",
                "up",
                "--data-dir",
                str(data_dir),
                "--gateway",
                f"127.0.0.1:{gateway_port}",
                "--portal",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        wait_line(gateway, r"gateway\s+(http://\S+)")
        body = claude_body(args.size_kb, args.stream)
        direct = http.client.HTTPConnection("127.0.0.1", mock_port)
        through = http.client.HTTPConnection("127.0.0.1", gateway_port)
        for _ in range(50):  # warm both paths
            call(direct, "/v1/messages", body)
            call(through, "/v1/messages", body)
        d_times: list[float] = []
        g_times: list[float] = []
        for _ in range(args.requests):
            d_times.append(call(direct, "/v1/messages", body))
            g_times.append(call(through, "/v1/messages", body))
        ms = 1000.0
        pairs = [(g - d) * ms for d, g in zip(d_times, g_times, strict=True)]
        result = {
            "scenario": f"pass-through {'stream' if args.stream else 'non-stream'}, one connection",
            "body_bytes": len(body),
            "requests_each": args.requests,
            "capture": args.capture,
            "direct_p50_ms": statistics.median(d_times) * ms,
            "direct_p99_ms": quantile(d_times, 0.99) * ms,
            "gateway_p50_ms": statistics.median(g_times) * ms,
            "gateway_p99_ms": quantile(g_times, 0.99) * ms,
            "added_p50_ms": (statistics.median(g_times) - statistics.median(d_times)) * ms,
            "added_p99_ms": (quantile(g_times, 0.99) - quantile(d_times, 0.99)) * ms,
            "paired_added_p50_ms": statistics.median(pairs),
        }
        for key, value in result.items():
            print(f"{key:22} {value:.3f}" if isinstance(value, float) else f"{key:22} {value}")
        if args.json:
            args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    finally:
        for process in (gateway, mock):
            if process is not None:
                process.terminate()
                process.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
