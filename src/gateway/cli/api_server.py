"""`gateway serve`: the API under granian, with the limits of the edge (issue 19
point 5).

uvicorn has no header-read timeout and limits header size only with its h11
parser; granian (hyper underneath) has both, plus a cap on the connections each
worker serves (backpressure) and several worker processes. What it enforces:

- the request line and headers together above `GATEWAY_HTTP_MAX_HEADER_BYTES`:
  431, read no further (the read buffer never grows past that size);
- a request head not complete within `GATEWAY_HTTP_HEADER_READ_TIMEOUT_S`, and a
  kept-alive connection idle as long: closed (slowloris);
- more than `GATEWAY_HTTP_MAX_CONNECTIONS` connections to one worker: the rest
  wait in the listen backlog until a slot frees.

HTTP/1.1 only: with HTTP/2 auto-detection granian reads a new connection's first
bytes itself, before the header-read timeout starts, so a client that connects
and sends nothing was held forever. TLS and HTTP/2 belong to the load balancer.

The workers are separate processes that build the app themselves
(`app_from_environment`), so the settings reach them through the environment:
the URLs of embedded servers started here are exported before they fork.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

# The server class of GIL builds of Python (the project's 3.11 and 3.12).
from granian.server.mp import MPServer as Server
from litestar import Litestar

from gateway.cli.supervisor import die_with_parent
from gateway.core.settings import Settings

APP_FACTORY = "gateway.cli.api_server:app_from_environment"
_MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Granian's own lines (start, worker exits) go through our logging set-up.
_GRANIAN_LOGGING: dict[str, Any] = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": False},
    }
}


def api_server(settings: Settings, *, host: str, port: int, workers: int) -> Server:
    """A granian server for the API, with the edge's limits from `settings`."""
    http = settings.http
    return Server(
        APP_FACTORY,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=workers,
        http=HTTPModes.http1,
        websockets=False,
        backpressure=http.http_max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(http.http_header_read_timeout_s * 1000)),
            keep_alive=True,
            max_buffer_size=http.http_max_header_bytes,
        ),
        log_dictconfig=_GRANIAN_LOGGING,
        log_level=LogLevels(settings.core.log_level.lower()),
        respawn_failed_workers=True,
        workers_kill_timeout=10,
    )


def export_for_workers(settings: Settings, workers: int) -> None:
    """Put what the workers need but cannot find themselves into the environment:
    the servers' URLs (embedded ones are known only here) and, with several
    workers, a folder for multiprocess metrics so /metrics counts them all."""
    if settings.database.url is not None:
        os.environ["DATABASE_URL"] = settings.database.url
    if settings.redis.url is not None:
        os.environ["REDIS_URL"] = settings.redis.url
    if workers > 1 and _MULTIPROCESS_ENV not in os.environ:
        folder = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
        os.environ[_MULTIPROCESS_ENV] = str(folder)


def app_from_environment() -> Litestar:
    """Granian's factory, run in each worker process."""
    from gateway.app import create_app  # noqa: PLC0415 - each worker imports the app itself
    from gateway.cli.common import load_settings_or_exit  # noqa: PLC0415

    # A worker never outlives its server: one left serving on the port after the
    # server was SIGKILLed (the chaos suite does) would answer for a dead API.
    die_with_parent()
    return create_app(load_settings_or_exit())
