"""A served gateway for the examples' end-to-end tests: `gateway serve` and a
long-running `gateway worker` (which relays the outbox and sends the merchant
webhooks as they happen), a merchant and its admin key made with the command
line, as an operator makes them. One for the examples package, on the run's database and
Redis, which are emptied afterwards."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from click.testing import CliRunner
from redis import Redis

from gateway.cli.main import main
from tests.fixtures.app import flush_test_redis, make_settings
from tests.jobs.conftest import truncate_all
from tests.served_api import UNLIMITED, served_process
from tests.support import run_in_thread

BIN = Path(sys.executable).parent
GATEWAY = str(BIN / "gateway")
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServedGateway:
    url: str
    key: str
    environment: dict[str, str]

    def command(self, *arguments: str) -> str:
        """`gateway ARGUMENTS...` in the served environment, run in this process (the
        command's own code; a new interpreter would spend seconds importing it)."""
        done = CliRunner().invoke(main, list(arguments), env=self.environment)
        assert done.exit_code == 0, (done.output, done.exception)
        return done.stdout

    def reconcile(self, transaction_id: str) -> None:
        """`gateway reconcile --now` until the pending transaction is decided: by
        this pass, or by the worker processing the processor's webhook first (a
        pending one is left alone for GATEWAY_IDEMPOTENCY_LOCK_SECONDS)."""

        def decided() -> bool:
            self.command("reconcile", "--now", "--json")
            return bool(self.get(f"/payments/{transaction_id}")["status"] != "pending")

        eventually(decided, every_s=0.5)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = httpx.get(
            f"{self.url}/api/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def payments_for(self, order_id: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.get("/payments", order_id=order_id, limit=100)["data"]
        return data


def gateway_environment(database_url: str, redis_url: str) -> dict[str, str]:
    settings = make_settings(database_url, redis_url)
    keys = settings.processor.authorize_net_signature_keys
    assert keys
    assert settings.secrets.encryption_keys
    assert settings.secrets.fingerprint_key
    assert settings.secrets.blind_index_key
    return {
        **os.environ,
        **UNLIMITED,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GATEWAY_ENV": "test",
        "GATEWAY_LOG_LEVEL": "WARNING",
        # Every process seals, fingerprints and signs with the same keys.
        "GATEWAY_ENCRYPTION_KEYS": settings.secrets.encryption_keys,
        "GATEWAY_FINGERPRINT_KEY": settings.secrets.fingerprint_key,
        "GATEWAY_BLIND_INDEX_KEY": settings.secrets.blind_index_key,
        "GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS": keys[0],
        "GATEWAY_PROCESSOR_RETRY_DEADLINE_S": "0.2",
        "GATEWAY_BREAKER_FAIL_MAX": "100",
        # Reconciliation leaves a pending transaction alone for this long (its own
        # request may still be finishing it): seconds here, not a minute and a half.
        "GATEWAY_IDEMPOTENCY_LOCK_SECONDS": "3",
        # No simulator webhooks: a timed-out charge stays pending until the test runs
        # reconciliation, so a hold can lapse while the gateway is still deciding
        # (with them, the worker settles it within milliseconds, before any lapse).
        "GATEWAY_SIMULATOR_WEBHOOK_URL": "",
    }


@contextmanager
def served_gateway(
    database_url: str, redis_url: str, name: str, log_dir: Path
) -> Iterator[ServedGateway]:
    environment = gateway_environment(database_url, redis_url)
    try:
        with served_process(environment) as (url, _):
            environment["GATEWAY_PORT"] = url.rsplit(":", 1)[1]  # where the worker posts
            worker_log = (log_dir / "worker.log").open("wb")
            worker = subprocess.Popen(  # noqa: S603 - our own command line
                [GATEWAY, "worker"],
                cwd=REPOSITORY,
                env=environment,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
            )
            try:
                served = ServedGateway(url, "", environment)
                merchant = json.loads(served.command("merchants", "create", name, "--json"))
                issued = json.loads(
                    served.command(
                        "keys", "create", "--merchant", merchant["id"], "--scope", "admin", "--json"
                    )
                )
                yield ServedGateway(url, issued["key"], environment)
            finally:
                worker.terminate()
                worker.wait(timeout=30)
                worker_log.close()
    finally:
        truncate_all(database_url)
        client = Redis.from_url(redis_url)
        try:
            flush_test_redis(client)
        finally:
            client.close()


@contextmanager
def example_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A database of the example's own on the test PostgreSQL, dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(plain, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    run_in_thread(lambda: asyncio.run(admin(f'CREATE DATABASE "{name}"')))
    base, _, query = admin_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    try:
        yield url
    finally:
        run_in_thread(lambda: asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')))


def query(database_url: str, statement: str, *arguments: Any) -> list[dict[str, Any]]:
    """Rows of one statement on the example's database, as dicts."""
    plain = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def run() -> list[dict[str, Any]]:
        connection = await asyncpg.connect(plain, timeout=10)
        try:
            return [dict(row) for row in await connection.fetch(statement, *arguments)]
        finally:
            await connection.close()

    return run_in_thread(lambda: asyncio.run(run()))


def eventually(check: Callable[[], Any], *, within_s: float = 60, every_s: float = 0.2) -> Any:
    """The first truthy result of `check`, polled until `within_s` has passed."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(every_s)
