"""`gateway clock advance CLOCK_ID --to RFC3339` through click's runner, against the
real database and Redis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.subscriptions.models import Invoice, Subscription, TestClock
from tests.cli.test_billing_cli import cli_env, due_renewals, gateway

__all__ = ["cli_env"]  # the fixture, shared


async def on_a_clock(engine: AsyncEngine, subscription_id: str) -> tuple[str, datetime]:
    """Put a committed subscription on a test clock of its merchant, at its own
    creation time; returns the clock's id and the subscription's next billing date."""
    async with AsyncSession(engine, expire_on_commit=False) as session:
        subscription = await session.get(Subscription, subscription_id)
        assert subscription is not None
        assert subscription.next_billing_at is not None
        clock = TestClock(
            id=new_id("clock"),
            merchant_id=subscription.merchant_id,
            frozen_time=subscription.created_at,
            status="ready",
            created_at=subscription.created_at,
            updated_at=subscription.created_at,
        )
        session.add(clock)
        await session.flush()
        await session.execute(
            update(Subscription)
            .where(Subscription.id == subscription_id)
            .values(test_clock_id=clock.id)
        )
        await session.commit()
        return clock.id, subscription.next_billing_at


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_clock_advance_runs_what_is_due_and_answers_the_clock(
    cli_env: dict[str, str],
    committed_engine: AsyncEngine,
    redis_client: Redis,
    settings: Settings,
    field_crypto: FieldCrypto,
) -> None:
    [subscription_id] = await due_renewals(
        committed_engine, redis_client, settings, field_crypto, None
    )
    clock_id, due = await on_a_clock(committed_engine, subscription_id)

    # The wall-clock pass leaves a subscription on a clock alone, due or not.
    assert json.loads((await gateway(cli_env, "billing", "run", "--json")).stdout)["due"] == 0

    target = due + timedelta(hours=1)
    result = await gateway(cli_env, "clock", "advance", clock_id, "--to", iso(target), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["id"], body["frozen_time"], body["status"]) == (clock_id, iso(target), "ready")
    assert body["passes"] >= 1
    async with committed_engine.connect() as connection:
        periods = (
            await connection.execute(
                select(Invoice.period_start, Invoice.status)
                .where(Invoice.subscription_id == subscription_id)
                .order_by(Invoice.period_start)
            )
        ).all()
    assert [status for _, status in periods] == ["paid", "paid"]
    assert periods[1][0] == due

    again = await gateway(cli_env, "clock", "advance", clock_id, "--to", iso(target))
    assert again.exit_code == 2
    assert "after the clock's time" in again.output


async def test_clock_advance_exit_codes(cli_env: dict[str, str]) -> None:
    soon = "2030-01-01T00:00:00Z"
    unknown = await gateway(cli_env, "clock", "advance", "clock_0123456789ABCDEF", "--to", soon)
    assert unknown.exit_code == 1
    assert "No test clock" in unknown.output
    malformed = await gateway(cli_env, "clock", "advance", "clk_1", "--to", soon)
    assert malformed.exit_code == 2
    naive = await gateway(
        cli_env, "clock", "advance", "clock_0123456789ABCDEF", "--to", "2030-01-01"
    )
    assert naive.exit_code == 2
    production = await gateway(
        {**cli_env, "GATEWAY_ENV": "production"},
        "clock", "advance", "clock_0123456789ABCDEF", "--to", soon,
    )  # fmt: skip
    assert production.exit_code == 2
