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
    if argv[:2] == ["obs", "up"] and not {"--detach", "--help", "-h"} & set(argv):
        from cal.hugepages import restart_on_huge_pages

        restart_on_huge_pages()  # before the CLI's imports, which the new start makes again
    from cal.cli import run

    sys.exit(run(argv))


if __name__ == "__main__":
    main()
