"""`cal endpoint …`: add, list, remove, enable, disable, switch and test upstream endpoints.

Each command opens the store in the data dir, does one thing, and returns 0 (done) or 1 (failed,
with one line on stderr). A running runtime notices every change within a second (it polls the
database's data_version). trio and httpx are imported only by `test`.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from cal.config import ConfigError, load, secret_from_env
from cal.formats import ApiFormat
from cal.routing.model import Endpoint, mask_key
from cal.routing.resolve import choose_endpoint
from cal.store import StoreError
from cal.store.store import Store, open_store

app = App(name="endpoint", help="Configure the upstream endpoints the gateway routes to.")

DataDir = Annotated[
    Path | None,
    Parameter(help="Where the database lives (default: the platform's data dir)."),
]
ModelMap = Annotated[
    list[str] | None,
    Parameter(consume_multiple=False, negative_iterable=(), metavar="FROM=TO"),
]


class CommandError(Exception):
    """A command cannot go on; the message is the one line the user sees."""


def _with_store(data_dir: Path | None, action: Callable[[Store], int]) -> int:
    """Run `action` on the store of `data_dir`; errors become one stderr line and exit 1."""
    try:
        settings = load({"data_dir": data_dir})
        with open_store(settings) as store:
            return action(store)
    except (CommandError, ConfigError, StoreError) as exc:
        print(f"cal: {exc}", file=sys.stderr)
        return 1


def parse_model_map(items: list[str] | None) -> dict[str, str]:
    """`["FROM=TO", …]` as a dict; `*` as FROM maps every model not listed."""
    mapping: dict[str, str] = {}
    for item in items or []:
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise CommandError(f"--model-map expects FROM=TO, got {item!r}")
        mapping[source.strip()] = target.strip()
    return mapping


def _read_key(api_key: str | None) -> str | None:
    """The key as given; `-` reads it from the first line of stdin (keeps it out of shell history)."""
    if api_key != "-":
        return api_key
    line = sys.stdin.readline().strip()
    if not line:
        raise CommandError("--api-key - expects the key on stdin, and stdin was empty")
    return line


@app.command
def add(
    name: str,
    /,
    *,
    url: str,
    format: ApiFormat,
    api_key: Annotated[
        list[str] | None,
        Parameter(
            allow_leading_hyphen=True, consume_multiple=False, negative_iterable=(), metavar="KEY"
        ),
    ] = None,
    api_key_env: Annotated[str | None, Parameter(metavar="VAR")] = None,
    model_map: ModelMap = None,
    priority: int = 100,
    disabled: Annotated[bool, Parameter(negative=())] = False,
    connect_timeout: Annotated[float | None, Parameter(metavar="S")] = None,
    first_byte_timeout: Annotated[float | None, Parameter(metavar="S")] = None,
    idle_timeout: Annotated[float | None, Parameter(metavar="S")] = None,
    total_timeout: Annotated[float | None, Parameter(metavar="S")] = None,
    data_dir: DataDir = None,
) -> int:
    """Add an endpoint.

    Args:
        name: A short name: letters, digits, '.', '_' and '-'.
        url: The provider's base URL as its SDK takes it (e.g. https://api.openai.com/v1).
        format: The API the endpoint speaks.
        api_key: The key to send upstream, stored encrypted ('-' reads it from stdin).
            Repeat it for a credential pool: the gateway uses the least recently used healthy
            key, cools a key down on 429 and takes it out on 401/403 (docs/routing.md).
            Without a key, the client's own credential is forwarded.
        api_key_env: Name of an environment variable that holds the key (read at use time).
        model_map: FROM=TO: send model TO when a client asks for FROM ('*' matches any). Repeatable.
        priority: Lower numbers are tried first.
        disabled: Add it disabled.
        connect_timeout: Seconds to connect (default: the setting connect_timeout_s).
        first_byte_timeout: Seconds until the upstream starts answering (first_byte_timeout_s).
        idle_timeout: Longest silence between stream events, in seconds (idle_timeout_s).
        total_timeout: Longest whole attempt, in seconds (total_timeout_s).
        data_dir: Where the database lives (default: the platform's data dir).
    """

    def action(store: Store) -> int:
        if api_key and api_key_env is not None:
            raise CommandError("give --api-key or --api-key-env, not both")
        keys = [_read_key(k) or "" for k in api_key or []]
        endpoint = Endpoint(
            name=name,
            url=url,
            format=format,
            api_key=keys[0] if keys else None,
            extra_api_keys=tuple(keys[1:]),
            connect_timeout_s=connect_timeout,
            first_byte_timeout_s=first_byte_timeout,
            idle_timeout_s=idle_timeout,
            total_timeout_s=total_timeout,
            api_key_env=api_key_env,
            model_map=parse_model_map(model_map),
            priority=priority,
            enabled=not disabled,
        )
        store.add_endpoint(endpoint)
        print(f"added endpoint {name!r} ({format}, {url}, {_key_note(endpoint)})")
        return 0

    return _with_store(data_dir, action)


def _key_note(endpoint: Endpoint) -> str:
    if endpoint.extra_api_keys:
        return f"{len(endpoint.api_keys)} keys stored encrypted"
    if endpoint.api_key:
        return "key stored encrypted"
    if endpoint.api_key_env:
        return f"key read from ${endpoint.api_key_env}"
    return "no key: clients' own credentials are forwarded"


def key_display(endpoint: Endpoint) -> str:
    """The key as `list` shows it: masked, `$VAR` (noting when unset), or `-`."""
    if endpoint.api_key:
        more = f" (+{len(endpoint.extra_api_keys)} more)" if endpoint.extra_api_keys else ""
        return (mask_key(endpoint.api_key) or "-") + more
    if endpoint.api_key_env:
        unset = "" if secret_from_env(endpoint.api_key_env) else " (not set)"
        return f"${endpoint.api_key_env}{unset}"
    return "-"


def endpoint_rows(endpoints: list[Endpoint], active: str | None) -> list[dict[str, Any]]:
    """What `list --json` prints: no key is ever shown whole."""
    serving = choose_endpoint(endpoints, active)
    return [_row(e, serving) for e in endpoints]


def _row(e: Endpoint, serving: Endpoint | None) -> dict[str, Any]:
    """One endpoint as `list --json` shows it (pool keys and timeouts only when set)."""
    row: dict[str, Any] = {
        "name": e.name,
        "format": e.format,
        "url": e.url,
        "priority": e.priority,
        "enabled": e.enabled,
        "active": serving is not None and e.name == serving.name,
        "api_key": mask_key(e.api_key),
        "api_key_env": e.api_key_env,
        "model_map": dict(e.model_map),
    }
    if e.extra_api_keys:
        row["api_keys"] = [mask_key(k) for k in e.api_keys]
    if e.timeouts():
        row["timeouts"] = e.timeouts()
    return row


def format_table(endpoints: list[Endpoint], active: str | None) -> str:
    """Aligned columns; `*` marks the endpoint that receives traffic now."""
    serving = choose_endpoint(endpoints, active)
    header = ("", "NAME", "FORMAT", "PRIORITY", "STATE", "URL", "KEY")
    rows = [header] + [
        (
            "*" if serving is not None and e.name == serving.name else "",
            e.name,
            e.format,
            str(e.priority),
            "enabled" if e.enabled else "disabled",
            e.url,
            key_display(e),
        )
        for e in endpoints
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@app.command(name="list")
def list_(*, json: bool = False, data_dir: DataDir = None) -> int:
    """List the endpoints (keys are always masked).

    Args:
        json: Print a JSON array instead of a table.
        data_dir: Where the database lives (default: the platform's data dir).
    """

    def action(store: Store) -> int:
        endpoints = store.list_endpoints()
        active = store.active_endpoint()
        if json:
            import msgspec

            print(
                msgspec.json.format(msgspec.json.encode(endpoint_rows(endpoints, active))).decode()
            )
        elif not endpoints:
            print("no endpoints: add one with `cal endpoint add NAME --url URL --format FORMAT`")
        else:
            print(format_table(endpoints, active))
        return 0

    return _with_store(data_dir, action)


def _simple(data_dir: Path | None, change: Callable[[Store], None], done: str) -> int:
    def action(store: Store) -> int:
        change(store)
        print(done)
        return 0

    return _with_store(data_dir, action)


@app.command
def remove(name: str, /, *, data_dir: DataDir = None) -> int:
    """Remove an endpoint.

    Args:
        name: The endpoint to remove.
        data_dir: Where the database lives (default: the platform's data dir).
    """
    return _simple(data_dir, lambda s: s.remove_endpoint(name), f"removed endpoint {name!r}")


@app.command
def enable(name: str, /, *, data_dir: DataDir = None) -> int:
    """Let an endpoint take traffic again.

    Args:
        name: The endpoint to enable.
        data_dir: Where the database lives (default: the platform's data dir).
    """
    return _simple(data_dir, lambda s: s.set_enabled(name, True), f"enabled endpoint {name!r}")


@app.command
def disable(name: str, /, *, data_dir: DataDir = None) -> int:
    """Keep an endpoint but send it no traffic.

    Args:
        name: The endpoint to disable.
        data_dir: Where the database lives (default: the platform's data dir).
    """
    return _simple(data_dir, lambda s: s.set_enabled(name, False), f"disabled endpoint {name!r}")


@app.command
def switch(name: str, /, *, data_dir: DataDir = None) -> int:
    """Send traffic to this endpoint first (persisted; it must be enabled).

    Args:
        name: The endpoint to switch to.
        data_dir: Where the database lives (default: the platform's data dir).
    """
    return _simple(data_dir, lambda s: s.set_active(name), f"switched to endpoint {name!r}")


def endpoint_key(endpoint: Endpoint) -> str | None:
    """The key to send: stored, or read from its variable now (CommandError if that is unset)."""
    if endpoint.api_key or not endpoint.api_key_env:
        return endpoint.api_key
    value = secret_from_env(endpoint.api_key_env)
    if value is None:
        raise CommandError(
            f"${endpoint.api_key_env} (the key of endpoint {endpoint.name!r}) is not set"
        )
    return value


def format_probe(fmt: str, status: int | None, latency_ms: float, ok: bool, message: str) -> str:
    """`ok   anthropic  200  123 ms  "reply"` or `fail anthropic  401  45 ms  error message`."""
    shown = f'"{message}"' if ok else message
    code = "---" if status is None else str(status)
    return f"{'ok' if ok else 'fail':<4} {fmt:<16} {code:>3}  {latency_ms:.0f} ms  {shown}"


@app.command(name="test")
def probe(
    name: str,
    /,
    *,
    model: str | None = None,
    timeout: float = 30.0,
    data_dir: DataDir = None,
) -> int:
    """Send one small request ("ping", 16 tokens at most) to an endpoint and report the answer.

    Args:
        name: The endpoint to test.
        model: The model to ask (default: the endpoint's '*' mapping, else a small default model).
        timeout: Seconds to wait for the answer.
        data_dir: Where the database lives (default: the platform's data dir).
    """

    def action(store: Store) -> int:
        import trio

        from cal.gateway.probe import probe_endpoint

        if not timeout > 0:
            raise CommandError(f"--timeout must be more than 0 seconds, got {timeout:g}")
        endpoint = store.get_endpoint(name)
        key = endpoint_key(endpoint)
        store.close()  # the probe may take a while; do not hold the database open
        result = trio.run(lambda: probe_endpoint(endpoint, key, model=model, timeout=timeout))
        line = format_probe(
            endpoint.format, result.status, result.latency_ms, result.ok, result.message
        )
        print(line)
        return 0 if result.ok else 1

    return _with_store(data_dir, action)
