"""`gateway billing run [--now] [--json]` through click's runner, against the real
database and Redis, on the wall clock as the command runs."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner, Result
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from gateway.cli import main
from gateway.composition.process import lent_resources
from gateway.core.clock import FrozenClock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.processors.simulator import Simulator, parse_script
from gateway.subscriptions.models import Subscription
from gateway.vault.service import PaymentMethodService
from tests.subscriptions.conftest import subscribe_committed


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


async def due_renewals(
    engine: AsyncEngine,
    redis: Redis,
    settings: Settings,
    crypto: FieldCrypto,
    *scripts: str | None,
) -> list[str]:
    """Subscriptions made 32 days ago, whose renewal is due now; each card's next
    charges follow its script (None: approve)."""
    clock = FrozenClock(SystemClock().now() - timedelta(days=32))
    simulator = Simulator(engine, redis, clock)
    resources = lent_resources(
        settings,
        engine=engine,
        session_factory=async_sessionmaker(engine, expire_on_commit=False),
        redis=redis,
        clock=clock,
        crypto=crypto,
        simulator=simulator,
    )
    ids = []
    for script in scripts:
        merchant_id, subscription_id = await subscribe_committed(resources, settings)
        if script is not None:
            async with resources.session_factory() as session:
                row = await session.get(Subscription, subscription_id)
                assert row is not None
                vault = PaymentMethodService(session, clock, crypto)
                method = await vault.get(Owner(merchant_id, False), row.payment_method_id)
                token = vault.processor_token(method)
            await simulator.set_script(token, parse_script(script))
        ids.append(subscription_id)
    return ids


async def statuses(engine: AsyncEngine, ids: list[str]) -> list[str]:
    async with engine.connect() as connection:
        rows = dict((await connection.execute(select(Subscription.id, Subscription.status))).all())
    return [rows[subscription_id] for subscription_id in ids]


def summary(result: Result) -> dict[str, int]:
    assert result.exit_code == 0, result.output
    loaded: dict[str, int] = json.loads(result.stdout)
    return loaded


async def test_one_pass_charges_what_is_due_and_summarises(
    cli_env: dict[str, str],
    committed_engine: AsyncEngine,
    redis_client: Redis,
    settings: Settings,
    field_crypto: FieldCrypto,
) -> None:
    ids = await due_renewals(
        committed_engine, redis_client, settings, field_crypto, None, "decline,decline"
    )

    first = summary(await gateway(cli_env, "billing", "run", "--json"))

    headline = ("due", "charged", "declined", "postponed", "errors")
    assert {name: first[name] for name in headline} == {
        "due": 2, "charged": 1, "declined": 1, "postponed": 0, "errors": 0,
    }  # fmt: skip
    assert await statuses(committed_engine, ids) == ["active", "past_due"]
    # Its retry is a day away: a pass now does nothing; --now ignores that wait.
    assert summary(await gateway(cli_env, "billing", "run", "--json"))["due"] == 0
    forced = summary(await gateway(cli_env, "billing", "run", "--now", "--json"))
    assert (forced["due"], forced["declined"], forced["charged"]) == (1, 1, 0)


async def test_the_human_summary_and_the_progress_bar(
    cli_env: dict[str, str],
    committed_engine: AsyncEngine,
    redis_client: Redis,
    settings: Settings,
    field_crypto: FieldCrypto,
) -> None:
    await due_renewals(committed_engine, redis_client, settings, field_crypto, None)
    result = await gateway(cli_env, "billing", "run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 due, 1 charged, 0 declined, 0 postponed, 0 errors")
    assert "charging" in result.stderr


async def test_a_pass_that_cannot_run_exits_1(cli_env: dict[str, str]) -> None:
    broken = {**cli_env, "DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    result = await gateway(broken, "billing", "run")
    assert result.exit_code == 1
    assert "billing failed" in result.stderr
