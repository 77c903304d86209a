"""`cal obs ports`: is each port free, or is something listening on it?"""

from __future__ import annotations

import socket
import sys
from collections.abc import Sequence
from typing import Literal

import msgspec

Expectation = Literal["free", "listening"]


class PortCheck(msgspec.Struct, frozen=True):
    port: int
    expected: Expectation
    found: Literal["free", "listening", "in use"]
    ok: bool
    owner: str | None = None


def _can_bind(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if sys.platform == "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _accepts(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_port(host: str, port: int, expected: Expectation, timeout: float = 0.5) -> PortCheck:
    from cal.serve import port_owner

    if _accepts(host, port, timeout):
        found: Literal["free", "listening", "in use"] = "listening"
    elif _can_bind(host, port):
        found = "free"
    else:
        found = "in use"
    ok = found == expected
    owner = port_owner(port) if found != "free" else None
    return PortCheck(port, expected, found, ok, owner)


def check_ports(
    host: str, expect_free: Sequence[int], expect_listening: Sequence[int]
) -> list[PortCheck]:
    """One check per port, in the order given."""
    checks = [check_port(host, p, "free") for p in expect_free]
    return checks + [check_port(host, p, "listening") for p in expect_listening]


def describe(check: PortCheck, host: str) -> str:
    mark = "ok  " if check.ok else "FAIL"
    owner = f" ({check.owner})" if check.owner else ""
    return f"{mark} {host}:{check.port} expected {check.expected}, found {check.found}{owner}"
