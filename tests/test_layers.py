"""The dependency rules of DESIGN §2, checked by walking every import in cal/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CAL = Path(__file__).resolve().parent.parent / "cal"

# Lower ranks never import higher ones (DESIGN §2's arrows). Same-rank imports are allowed.
RANK = {
    "formats": 0,
    "sse": 0,
    "config": 0,
    "transform": 1,
    "routing": 1,
    "usage": 1,
    "capture": 2,
    "store": 2,
    "telemetry": 2,
    "service": 2,
    "http1": 2,
    "serve": 3,
    "gateway": 3,
    "portal": 3,
    "mock": 3,
    "obs": 3,
    "runtime": 4,
    "hugepages": 4,
    "cli": 5,
    "__main__": 6,
    "__init__": 0,
}
PURE = {"formats", "sse", "transform", "routing", "usage"}
IO_LIBRARIES = {"trio", "httpx", "quart", "quart_trio", "hypercorn", "opentelemetry", "anyio"}


def _modules() -> list[Path]:
    return sorted(CAL.rglob("*.py"))


def _top(path: Path) -> str:
    rel = path.relative_to(CAL)
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_every_package_has_a_rank() -> None:
    tops = {_top(p) for p in _modules()}
    assert tops <= set(RANK), f"add a rank for {tops - set(RANK)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CAL)))
def test_imports_follow_the_layers(path: Path) -> None:
    here = _top(path)
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] == "cal" and len(parts) > 1:
            there = parts[1]
            assert RANK[there] <= RANK[here], f"{here} (rank {RANK[here]}) imports {name}"
            if there == "cli":
                assert here in ("cli", "__main__"), f"{here} imports the CLI"
        if here in PURE:
            assert parts[0] not in IO_LIBRARIES, f"pure package {here} imports {name}"


def test_only_config_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(CAL))
        for p in _modules()
        if p.name != "config.py" and ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert offenders == []
