"""`python -m cal` and the console script `cal`; also the PyInstaller entry script."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the cal command line; `--version` answers without importing the heavy stack."""
    argv = sys.argv[1:]
    if argv in (["--version"], ["-V"]):
        from cal import __version__

        print(__version__)
        return
    from cal.cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
