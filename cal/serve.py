"""Serve an ASGI app with hypercorn on trio: the one way gateway, portal and mock listen.

`await nursery.start(serve_asgi, app, host, port, stop)` returns the bound (host, port) once the
socket listens, so "ready" printed after it is true; port 0 picks a free port. A port in use raises
PortInUseError naming the port and, where it can be found, the process that holds it.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import trio

log = logging.getLogger(__name__)


class PortInUseError(OSError):
    """The address is taken; `owner` describes the process holding it when it can be found."""

    def __init__(self, host: str, port: int, owner: str | None) -> None:
        self.host, self.port, self.owner = host, port, owner
        who = f" by {owner}" if owner else ""
        super().__init__(errno.EADDRINUSE, f"port {port} on {host} is already in use{who}")


def port_owner(port: int) -> str | None:
    """`pid N (name)` of the process listening on `port`, if the OS lets us see it."""
    try:
        import psutil

        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    return None
                try:
                    name = psutil.Process(conn.pid).name()
                except psutil.Error:
                    name = "?"
                return f"pid {conn.pid} ({name})"
    except Exception:  # access denied, unsupported platform: the owner is optional
        log.debug("could not look up the owner of port %d", port, exc_info=True)
    return None


async def serve_asgi(
    app: Any,
    host: str,
    port: int,
    stop: trio.Event,
    *,
    graceful_timeout: float = 5.0,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` on host:port until `stop` is set; streams still open get `graceful_timeout` s."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = 75
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False
    config.include_date_header = True
    try:
        sockets = config.create_sockets()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port, port_owner(port)) from None
        raise
    for sock in sockets.insecure_sockets:
        sock.listen(config.backlog)
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    bound = sockets.insecure_sockets[0].getsockname()

    async def _started(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        await worker_serve(
            wrap_app(app, config.wsgi_max_body_size, None),
            config,
            sockets=sockets,
            shutdown_trigger=stop.wait,
            task_status=task_status,
        )

    async with trio.open_nursery() as nursery:
        await nursery.start(_started)
        task_status.started((host, int(bound[1])))
