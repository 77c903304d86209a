"""Build dist/cal (dist/cal.exe on Windows) from a clean venv with runtime dependencies only.

Usage: python3 packaging/build.py
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "build" / "pyinstaller-venv"


def main() -> int:
    venv.EnvBuilder(clear=True, with_pip=True).create(VENV)
    bindir = VENV / ("Scripts" if sys.platform == "win32" else "bin")
    python = str(bindir / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(ROOT), "pyinstaller>=6.10"], check=True)
    subprocess.run(
        [
            python,
            "-m",
            "PyInstaller",
            "--clean",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(ROOT / "dist"),
            "--workpath",
            str(ROOT / "build" / "pyinstaller"),
            str(ROOT / "packaging" / "cal.spec"),
        ],
        check=True,
    )
    name = "cal.exe" if sys.platform == "win32" else "cal"
    print(f"built {ROOT / 'dist' / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
