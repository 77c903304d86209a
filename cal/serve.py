"""Serve an ASGI app on trio: cal/http1 for the hot path, hypercorn for the rest.

`await nursery.start(serve_http1, app, host, port, stop)` (gateway, mock provider) and
`serve_asgi` (hypercorn: the quart-trio portal, test servers) share one contract: they return the
bound (host, port) once the socket listens, so "ready" printed after it is true; port 0 picks a
free port. A port in use raises PortInUseError naming the port and, where it can be found, the
process that holds it.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
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


LISTEN_BACKLOG = 1024


def bind_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket bound to host:port (not listening yet); PortInUseError if taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":  # SO_REUSEADDR there would let two servers share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host.strip("[]"), port))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port, port_owner(port)) from None
        raise
    return sock


async def serve_http1(
    app: Any,
    host: str,
    port: int,
    stop: trio.Event,
    *,
    graceful_timeout: float = 5.0,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` with cal/http1 on host:port until `stop` is set; requests still in flight get
    `graceful_timeout` s."""
    from cal.http1.server import serve_listeners

    sock = bind_socket(host, port)
    sock.listen(LISTEN_BACKLOG)
    bound = sock.getsockname()
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
    task_status.started((host, int(bound[1])))
    await serve_listeners(app, [listener], stop, graceful_timeout=graceful_timeout)


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
    from hypercorn.config import Config, Sockets
    from hypercorn.trio.run import worker_serve
    from hypercorn.utils import wrap_app

    config = Config()
    config.graceful_timeout = graceful_timeout
    config.keep_alive_timeout = 75
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.include_server_header = False
    config.include_date_header = True
    sock = bind_socket(host, port)
    sock.listen(config.backlog)
    sockets = Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])
    bound = sock.getsockname()

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
