"""Redis is down: payments still work (PostgreSQL is the only truth for money), and
their events go out once Redis is back (DESIGN.md "Moving parts")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.audit.models import Event
from gateway.audit.outbox import OutboxRelay, rq_enqueue
from gateway.composition.process import lent_resources
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.queues import rq_connection
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.processors.simulator import Simulator, SimulatorConfig
from tests.fixtures.app import make_settings
from tests.fixtures.payments import charge_body
from tests.support import closed_port, http_client


@pytest.fixture
async def without_redis(
    database_url: str,
    committed_engine: AsyncEngine,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
) -> AsyncIterator[tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]]]:
    down_url = f"redis://127.0.0.1:{closed_port()}/0"
    settings = make_settings(database_url, down_url)
    redis = Redis.from_url(down_url, socket_connect_timeout=0.2, socket_timeout=0.2)
    sessions = async_sessionmaker(committed_engine, expire_on_commit=False)
    simulator = Simulator(committed_engine, redis, clock, SimulatorConfig.from_settings(settings))
    resources = lent_resources(
        settings,
        engine=committed_engine,
        session_factory=sessions,
        redis=redis,
        clock=clock,
        crypto=field_crypto,
        simulator=simulator,
    )
    async with sessions() as session:
        service = MerchantService(session, clock)
        merchant = await service.create_merchant("Redis-less Shop")
        key = (
            await service.create_key(
                merchant.id, [Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ], livemode=False
            )
        ).secret
        await session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    async with http_client(create_app(settings, resources=resources), headers) as client:
        yield client, sessions
    await redis.aclose()


async def test_payments_succeed_and_their_events_drain_when_redis_returns(
    without_redis: tuple[httpx.AsyncClient, async_sessionmaker[AsyncSession]],
    clock: FrozenClock,
    test_redis_url: str,
) -> None:
    client, sessions = without_redis
    health = (await client.get("/api/v1/health")).json()
    assert health["status"] == "degraded"
    assert health["checks"]["redis"] == "down"

    ids = []
    for attempt in range(3):
        response = await client.post(
            "/api/v1/payments/purchase",
            json=charge_body(1500 + attempt),
            headers={"Idempotency-Key": f"no-redis-{attempt}"},
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    authorization = await client.post(
        "/api/v1/payments/authorize", json=charge_body(900), headers={"Idempotency-Key": "a"}
    )
    capture = await client.post(
        "/api/v1/payments/capture",
        json={"transaction_id": authorization.json()["id"]},
        headers={"Idempotency-Key": "c"},
    )
    assert capture.status_code == 201

    async with sessions() as session:
        waiting = await session.scalar(
            select(func.count()).select_from(Event).where(Event.published_at.is_(None))
        )
    assert waiting, "the relay could not reach Redis: the events wait in PostgreSQL"

    connection = rq_connection(test_redis_url)
    try:
        async with sessions() as session:
            relayed = await OutboxRelay(session, clock).relay(rq_enqueue(connection))
            await session.commit()
    finally:
        connection.close()
    assert relayed == waiting
    async with sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(Event).where(Event.published_at.is_(None))
        )
    assert left == 0
