"""Run the runtime with its heap on transparent huge pages: the same process (same pid) started
again at once, in the environment `cal.config.huge_page_environ` gives.

Why: on machines that make memory left alone for a while slow to touch again (virtual machines
whose host ages the guest's pages), a request after a quiet spell pays for every page its path
touches, and with 2 MB pages the same objects span far fewer pages (docs/design.md, "The hot
path"; the figures are in docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from cal.config import huge_page_environ

log = logging.getLogger(__name__)

THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
GLIBC_WITH_HUGETLB = (2, 35)


def huge_pages_possible(mode_file: Path = THP_MODE) -> bool:
    """Linux with transparent huge pages not turned off, and a glibc that has the tunable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        mode = mode_file.read_text()
    except (OSError, ValueError):
        return False
    return glibc_has_hugetlb(libc) and "[never]" not in mode


def glibc_has_hugetlb(libc: str) -> bool:
    """Whether `libc` (as `confstr("CS_GNU_LIBC_VERSION")` names it: "glibc 2.36") knows the
    tunable `glibc.malloc.hugetlb`."""
    name, _, version = libc.partition(" ")
    major, _, minor = version.partition(".")
    if name != "glibc" or not major.isdigit():
        return False
    minor = minor.partition(".")[0]
    return (int(major), int(minor) if minor.isdigit() else 0) >= GLIBC_WITH_HUGETLB


def restart_environ(environ: Mapping[str, str] | None = None) -> dict[str, str] | None:
    """The environment to start again in, or None when the process should stay as it is."""
    env = huge_page_environ(environ)
    return env if env is not None and huge_pages_possible() else None


def anon_huge_kb(pid: int | str = "self") -> int:
    """KB of process `pid`'s anonymous memory on transparent huge pages (`smaps_rollup`)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("AnonHugePages:"):
            return int(line.split()[1])
    return 0


def restart_on_huge_pages() -> None:
    """Replace this process with itself on huge pages; returns only when that is not possible
    or already done (or the exec failed, which is logged: cal then runs as it is)."""
    if getattr(sys, "frozen", False):
        return  # the one-file executable's interpreter does not read PYTHONMALLOC
    env = restart_environ()
    if env is None:
        return
    argv = [sys.executable, *sys.orig_argv[1:]]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as exc:
        log.warning("could not start again on huge pages (%s); running as is", exc)
