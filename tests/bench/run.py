"""The benchmark suite of issue 7: one command, a table, a JSON file.

Usage: python tests/bench/run.py [--quick] [--only 1,2] [--json OUT] [--binary dist/cal]

Scenarios: 1 non-stream latency at one connection, 2 paced streams (pass-through and translated),
3 64 concurrent streams for 30 s, 4 small requests at 8 and 64 connections, 5 memory, 6 start-up.
The mock provider, the gateway(s) (`cal obs up`, full capture) and the floor (a trio byte pipe)
run in their own processes; this process is the load. Every figure is taken beside the direct
call to the same mock and the floor, in the same run. `--quick` is a smoke run of a minute or two.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import concurrency
import latency
import memory
import msgspec
import startup
import streams
import throughput
from harness import ROOT, Row, Stack, file_creation_us, load_average

Scenario = Callable[[Stack, dict[str, Any], bool], tuple[list[Row], dict[str, Any]]]
SCENARIOS: dict[int, Scenario] = {
    1: latency.run,
    2: streams.run,
    3: concurrency.run,
    4: throughput.run,
    5: memory.run,
    6: startup.run,
}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def table(rows: list[Row]) -> str:
    head = [
        "scenario",
        "metric",
        "unit",
        "direct",
        "gateway",
        "floor",
        "http floor",
        "added",
        "floor+",
        "http+",
        "target",
        "",
    ]
    lines = [
        [
            r.scenario,
            r.metric,
            r.unit,
            *map(_fmt, (r.direct, r.gateway, r.floor, r.http_floor, r.added)),
            *map(_fmt, (r.floor_added, r.http_floor_added)),
            r.target,
            "" if r.ok is None else "pass" if r.ok else "FAIL",
        ]
        for r in rows
    ]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    right = {3, 4, 5, 6, 7, 8, 9}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, lines)])


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shortened smoke run")
    parser.add_argument("--only", default="", help="comma-separated scenario numbers, e.g. 1,2")
    parser.add_argument(
        "--json", type=Path, help="where to write the results (default: a temp dir)"
    )
    parser.add_argument(
        "--binary", type=Path, default=ROOT / "dist" / "cal", help="one-file binary to time"
    )
    args = parser.parse_args()
    chosen = sorted({int(x) for x in args.only.split(",") if x.strip()} or SCENARIOS)

    generator = (
        "wrk"
        if shutil.which("wrk")
        else "own: a blocking socket client (c=1) and a raw trio HTTP/1.1 client"
    )
    meta: dict[str, Any] = {
        "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "cal")),
        "code": str(ROOT),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": load_average(),
        "quick": args.quick,
        "load_generator": generator + " (the gateway, mock and pipe are separate processes)",
    }
    print(
        f"cal benchmark suite  commit {meta['commit'][:10]}  scenarios {chosen}  quick={args.quick}"
    )
    print(
        f"load average {meta['load_average_before']}  cpus {meta['cpus']}  generator: {generator}",
        flush=True,
    )

    stack = Stack()
    meta["file_creation_us_before"] = file_creation_us(stack.tmp)
    print(f"file creation {meta['file_creation_us_before']} µs of CPU per empty file", flush=True)
    rows: list[Row] = []
    details: dict[str, Any] = {}
    try:
        mock = stack.mock()
        env: dict[str, Any] = {
            "mock": mock,
            "pipe": stack.pipe(mock),
            "gateway": stack.gateway(mock, "anthropic"),
            "binary": args.binary,
        }
        if 1 in chosen:
            env["gateway_nocapture"] = stack.gateway(mock, "anthropic", capture=False)
        if 2 in chosen:
            env["gateway_chat"] = stack.gateway(mock, "openai-chat")
            env["http_floor"] = stack.pipe(mock, "http_floor.py")
        for number in chosen:
            started = time.perf_counter()
            print(f"-- scenario {number} ({SCENARIOS[number].__module__}) ...", flush=True)
            got, info = SCENARIOS[number](stack, env, args.quick)
            rows += got
            info["seconds"] = round(time.perf_counter() - started, 1)
            info["load_average_after"] = load_average()
            details[str(number)] = info
            print(table(got), flush=True)
        meta["file_creation_us_after"] = file_creation_us(stack.tmp)  # before the data dirs go
    finally:
        stack.close()

    meta["load_average_after"] = load_average()
    print()
    print(table(rows))
    failed = [r for r in rows if r.ok is False]
    print(
        f"\n{len(rows)} figures, {len(failed)} miss their target; load average {meta['load_average_after']}"
        f"; file creation {meta.get('file_creation_us_after')} µs"
    )
    out = args.json or stack.tmp / "bench-results.json"
    result = {
        "meta": meta,
        "rows": [
            {**r.__dict__, "floor_added": r.floor_added, "http_floor_added": r.http_floor_added}
            for r in rows
        ],
        "details": details,
    }
    out.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    print(f"JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
