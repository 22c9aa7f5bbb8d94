"""`gateway reconcile [--now] [--json]` through click's runner, against the real
database and Redis, on the wall clock as the command runs."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cli import main
from gateway.core.clock import FrozenClock, SystemClock
from gateway.core.db import create_session_factory
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.processors.simulator import Simulator
from tests.processors import charge


@pytest.fixture
def cli_env(
    database_url: str, test_redis_url: str, committed_engine: AsyncEngine, settings: Settings
) -> dict[str, str]:
    secrets = settings.secrets
    assert secrets.encryption_keys
    assert secrets.fingerprint_key
    assert secrets.blind_index_key
    return {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
        "GATEWAY_ENCRYPTION_KEYS": secrets.encryption_keys,
        "GATEWAY_FINGERPRINT_KEY": secrets.fingerprint_key,
        "GATEWAY_BLIND_INDEX_KEY": secrets.blind_index_key,
    }


async def gateway(env: dict[str, str], *arguments: str) -> Result:
    # The command runs its own event loop: keep it off the test's.
    return await asyncio.to_thread(CliRunner().invoke, main, list(arguments), env=env)


def as_json(result: Result) -> dict[str, object]:
    assert result.exit_code == 0, result.output
    loaded: dict[str, object] = json.loads(result.stdout)
    return loaded


async def _pending_purchases(
    engine: AsyncEngine, redis: Redis, *ages_and_landed: tuple[timedelta, bool]
) -> list[str]:
    """Pending purchases made `age` ago, taken by the simulator when `landed`."""
    now = SystemClock().now()
    ids: list[str] = []
    async with create_session_factory(engine)() as session:
        merchant = await MerchantService(session, SystemClock()).create_merchant("Shop")
        for age, landed in ages_and_landed:
            made_at = now - age
            transaction = Transaction(
                id=new_id("txn"),
                merchant_id=merchant.id, livemode=False, type="purchase", status="pending",
                pending_reason="unknown_outcome", amount=1500, currency="USD",
                amount_captured=0, amount_refunded=0, metadata_={}, processor="simulator",
                created_at=made_at, updated_at=made_at,
            )  # fmt: skip
            session.add(transaction)
            if landed:
                await Simulator(engine, redis, FrozenClock(made_at)).purchase(
                    charge(1500, ref=transaction.id)
                )
            ids.append(transaction.id)
        await session.commit()
    return ids


async def _statuses(engine: AsyncEngine, ids: list[str]) -> list[str]:
    async with engine.connect() as connection:
        result = await connection.execute(select(Transaction.id, Transaction.status))
        rows: dict[str, str] = dict(result.all())
    return [rows[transaction_id] for transaction_id in ids]


async def test_one_pass_resolves_what_it_can_and_summarises(
    cli_env: dict[str, str], committed_engine: AsyncEngine, redis_client: Redis
) -> None:
    landed, unseen, unseen_long = await _pending_purchases(
        committed_engine,
        redis_client,
        (timedelta(minutes=5), True),
        (timedelta(minutes=5), False),
        (timedelta(minutes=45), False),
    )

    summary = as_json(await gateway(cli_env, "reconcile", "--json"))

    assert summary == {
        "claimed": 3,
        "resolved": {"captured": 1, "failed": 1},
        "still_pending": 1,
        "failed_not_found": 1,
        "answers_stored": 0,
    }
    statuses = await _statuses(committed_engine, [landed, unseen, unseen_long])
    assert statuses == ["captured", "pending", "failed"]

    again = as_json(await gateway(cli_env, "reconcile", "--json"))
    assert again["claimed"] == 0, "the one not found waits out its backoff"
    forced = as_json(await gateway(cli_env, "reconcile", "--now", "--json"))
    assert (forced["claimed"], forced["still_pending"]) == (1, 1)


async def test_the_human_summary(
    cli_env: dict[str, str], committed_engine: AsyncEngine, redis_client: Redis
) -> None:
    await _pending_purchases(committed_engine, redis_client, (timedelta(minutes=5), True))
    result = await gateway(cli_env, "reconcile")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "claimed 1; resolved: 1 captured; still pending 0; failed as not found 0"
    )
    nothing = await gateway(cli_env, "reconcile")
    assert "claimed 0; resolved: none" in nothing.stdout


async def test_a_pass_that_cannot_run_exits_1(cli_env: dict[str, str]) -> None:
    unreachable = {
        **cli_env,
        "DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/nothing",
        "GATEWAY_DATABASE_CONNECT_TIMEOUT_S": "1",
    }
    result = await gateway(unreachable, "reconcile")
    assert result.exit_code == 1
    assert "reconciliation failed" in result.stderr
