"""cli/: cyclopts commands only. Each command parses flags and calls one function elsewhere.

Subcommand modules are imported lazily, so `cal --help` and `cal --version` stay light.
No `from __future__ import annotations` in this package (cyclopts reads the annotations).
"""

import sys
from collections.abc import Sequence

from cyclopts import App, CycloptsError

from cal import __version__

app = App(
    name="cal",
    version=__version__,
    help="CodeAgentLens: a local model-endpoint gateway and observability workbench for code agents.",
)
app.command("cal.cli.obs:app", name="obs")
app.command("cal.cli.endpoint:app", name="endpoint")
app.command("cal.cli.mock:mock_upstream", name="mock-upstream")
app.command("cal.cli.usage:usage", name="usage")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app(tokens, result_action="return_value", exit_on_error=False, print_error=True)
    except CycloptsError:
        return 2  # cyclopts has printed what was wrong with the command line
    return result if isinstance(result, int) else 0
