"""`cal obs stop | status | ports`: talk to a runtime that runs in another process."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from cal.config import ConfigError, load
from cal.obs.daemon import force_stop, read_state, request_stop
from cal.obs.evidence import write_evidence
from cal.obs.ports import check_ports, describe


def _data_dir(data_dir: Path | None) -> Path | None:
    try:
        return load({"data_dir": data_dir}).data_dir
    except ConfigError as exc:
        print(f"cal: {exc}", file=sys.stderr)
        return None


def run_stop(*, data_dir: Path | None, evidence_dir: Path | None, timeout: float) -> int:
    directory = _data_dir(data_dir)
    if directory is None:
        return 2
    state = read_state(directory)
    found: dict[str, Any]
    if state is None:
        print(f"cal is not running for {directory}")
        found, ok = {"running": False}, True
    else:
        print(f"stopping cal (pid {state.pid})…", flush=True)
        graceful = request_stop(state, timeout)
        if not graceful:
            print(f"cal did not stop within {timeout:g} s; terminating it", file=sys.stderr)
            force_stop(state.pid)
        print("cal stopped" if graceful else "cal terminated")
        found, ok = {"running": True, "pid": state.pid, "graceful": graceful}, graceful
    if evidence_dir is not None:
        write_evidence(
            evidence_dir, "stop", checked={"data_dir": str(directory)}, found=found, passed=ok
        )
    return 0 if ok else 1


def _fetch_status(state_portal: str | None, gateway: str) -> tuple[dict[str, Any] | None, bool]:
    import httpx

    status = None
    healthy = False
    try:
        healthy = httpx.get(gateway + "/health", timeout=3.0).status_code == 200
        if state_portal:
            response = httpx.get(state_portal + "/api/status", timeout=3.0)
            if response.status_code == 200:
                status = msgspec.json.decode(response.content)
    except httpx.HTTPError:
        pass
    return status, healthy


def run_status(*, data_dir: Path | None, as_json: bool, evidence_dir: Path | None) -> int:
    directory = _data_dir(data_dir)
    if directory is None:
        return 2
    state = read_state(directory)
    report: dict[str, Any] = {"running": state is not None, "data_dir": str(directory)}
    if state is not None:
        status, healthy = _fetch_status(state.portal, state.gateway)
        report.update(
            pid=state.pid,
            version=state.version,
            run_id=state.run_id,
            gateway=state.gateway,
            portal=state.portal,
            gateway_healthy=healthy,
        )
        if status is not None:
            report["endpoints"] = status.get("endpoints", [])
            report["active_endpoint"] = status.get("active_endpoint")
            report["sinks"] = status.get("sinks", {})
    if as_json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(report)).decode() + "\n")
    else:
        _print_status(report)
    ok = bool(report["running"] and report.get("gateway_healthy"))
    if evidence_dir is not None:
        write_evidence(
            evidence_dir, "status", checked={"data_dir": str(directory)}, found=report, passed=ok
        )
    return 0 if ok else 1


def _print_status(report: dict[str, Any]) -> None:
    if not report["running"]:
        print(f"cal is not running (data dir {report['data_dir']})")
        return
    health = "healthy" if report.get("gateway_healthy") else "NOT answering"
    print(f"cal {report['version']} running (pid {report['pid']}, run {report['run_id']})")
    print(f"  gateway  {report['gateway']} ({health})")
    if report.get("portal"):
        print(f"  portal   {report['portal']}")
    for endpoint in report.get("endpoints", []):
        mark = "*" if endpoint.get("active") else " "
        state = "enabled" if endpoint.get("enabled") else "disabled"
        print(
            f"  {mark} endpoint {endpoint['name']} ({endpoint['format']}, {state}) {endpoint['url']}"
        )


def run_ports(
    host: str,
    expect_free: Sequence[int],
    expect_listening: Sequence[int],
    evidence_dir: Path | None,
) -> int:
    checks = check_ports(host, expect_free, expect_listening)
    for check in checks:
        print(describe(check, host))
    ok = all(c.ok for c in checks)
    if evidence_dir is not None:
        write_evidence(
            evidence_dir,
            "ports",
            checked={
                "host": host,
                "expect_free": list(expect_free),
                "expect_listening": list(expect_listening),
            },
            found=[msgspec.to_builtins(c) for c in checks],
            passed=ok,
        )
    return 0 if ok else 1
