"""`cal obs …`: start, stop and inspect the runtime; check ports. Each command calls one function."""

import sys
from pathlib import Path
from typing import Annotated, Literal

from cyclopts import App, Parameter, Token

app = App(name="obs", help="Run and inspect the cal runtime (gateway + Debug Portal).")


def _ports(type_: object, tokens: "list[Token]") -> list[int]:
    """Accept `--expect-free 3010,3011` as well as repeated flags."""
    out: list[int] = []
    for token in tokens:
        for part in token.value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 0 < int(part) < 65536:
                raise ValueError(f"{part!r} is not a port number")
            out.append(int(part))
    return out


Ports = Annotated[list[int], Parameter(converter=_ports, consume_multiple=False)]


@app.command
def up(
    *,
    demo: bool = False,
    detach: bool = False,
    data_dir: Path | None = None,
    gateway: str | None = None,
    portal: str | None = None,
    evidence_dir: Path | None = None,
    deployment_profile: str | None = None,
) -> int:
    """Start the gateway and the Debug Portal.

    Parameters
    ----------
    demo
        Serve the built-in mock provider as an endpoint when none is configured (no API key needed).
    detach
        Run in the background; stop it with `cal obs stop`.
    data_dir
        Where the database, artifacts and runtime state live (default: the platform's data dir).
    gateway
        Gateway listen address HOST:PORT (default 127.0.0.1:3010).
    portal
        Debug Portal listen address HOST:PORT (default 127.0.0.1:3011).
    evidence_dir
        Write an evidence file (obs-up.json) here.
    deployment_profile
        local_debug (default) is the only profile that can start without portal auth.
    """
    from cal.runtime.up import UpOptions, run_up

    return run_up(
        UpOptions(
            demo=demo,
            detach=detach,
            data_dir=data_dir,
            gateway=gateway,
            portal=portal,
            evidence_dir=evidence_dir,
            deployment_profile=deployment_profile,
        )
    )


@app.command
def stop(
    *, data_dir: Path | None = None, evidence_dir: Path | None = None, timeout: float = 15.0
) -> int:
    """Stop the runtime gracefully (in-flight streams get a bounded grace period).

    Parameters
    ----------
    data_dir
        The data dir of the runtime to stop.
    evidence_dir
        Write an evidence file (obs-stop.json) here.
    timeout
        Seconds to wait for a graceful stop before the process is terminated.
    """
    from cal.obs.control import run_stop

    return run_stop(data_dir=data_dir, evidence_dir=evidence_dir, timeout=timeout)


@app.command
def status(
    *, data_dir: Path | None = None, json: bool = False, evidence_dir: Path | None = None
) -> int:
    """Report whether the runtime runs, where it listens and its endpoints.

    Parameters
    ----------
    data_dir
        The data dir of the runtime.
    json
        Print the status as JSON.
    evidence_dir
        Write an evidence file (obs-status.json) here.
    """
    from cal.obs.control import run_status

    return run_status(data_dir=data_dir, as_json=json, evidence_dir=evidence_dir)


@app.command
def ports(
    *,
    expect_free: Ports = [],  # noqa: B006 - cyclopts reads the default; never mutated
    expect_listening: Ports = [],  # noqa: B006
    host: str = "127.0.0.1",
    evidence_dir: Path | None = None,
) -> int:
    """Check that ports are free (or listening): one line per port, exit 1 if any differs.

    Parameters
    ----------
    expect_free
        Ports that must be free, e.g. 3010,3011 (or repeat the flag).
    expect_listening
        Ports that must have a listener.
    host
        The address to check.
    evidence_dir
        Write an evidence file (obs-ports.json) here.
    """
    from cal.obs.control import run_ports

    if not expect_free and not expect_listening:
        print("cal: give --expect-free and/or --expect-listening", file=sys.stderr)
        return 2
    return run_ports(host, expect_free, expect_listening, evidence_dir)


@app.command
def export(
    *,
    output: Annotated[Path, Parameter(name=["--output", "-o"])],
    request: str | None = None,
    session: str | None = None,
    run: str | None = None,
    format: Literal["zip", "tar", "lhar"] = "zip",
    data_dir: Path | None = None,
) -> int:
    """Write the artifact bundles of a request, a session or a run to one archive (or LHAR).

    Parameters
    ----------
    output
        The file to write.
    request
        Export this request id.
    session
        Export every request of this agent session id.
    run
        Export every request of this run id.
    format
        zip or tar (.tar.gz) of bundles, or lhar (a session as an LHAR document).
    data_dir
        The data dir the requests were recorded in.
    """
    from cal.config import ConfigError, load
    from cal.obs.export import ExportError, export_bundles

    try:
        settings = load({"data_dir": data_dir})
        result = export_bundles(
            settings, request_id=request, session_id=session, run_id=run, output=output, fmt=format
        )
    except (ConfigError, ExportError) as exc:
        print(f"cal: {exc}", file=sys.stderr)
        return 1
    print(
        f"wrote {result.output} ({result.format}): {result.requests} requests, "
        f"{result.bundles} bundles, {result.files} files, {result.bytes} bytes"
    )
    return 0
