"""Posting signed webhooks to the app, and processing the stored events with the
test's own sessions, clock and simulator (the worker's code, without RQ)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import httpx
import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock, SystemClock
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.models import SimulatorWebhook
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.processing import WebhookProcessing
from gateway.webhooks.signature import sign
from tests.jobs.conftest import job_environment  # noqa: F401 - a fixture, for `workers`
from tests.support import run_in_thread

T = TypeVar("T")

Deliver = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def signature_key(settings: Settings) -> str:
    keys = settings.processor.authorize_net_signature_keys
    assert keys
    return keys[0]


@pytest.fixture
def deliver(client: httpx.AsyncClient, signature_key: str) -> Deliver:
    """POST a body to /webhooks/<path>, signed with the current key unless told."""

    async def send(
        body: bytes,
        *,
        path: str = "simulator",
        signature: str | None = None,
        unsigned: bool = False,
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if not unsigned:
            headers["X-ANET-Signature"] = signature or sign(body, signature_key)
        return await client.post(f"/api/v1/webhooks/{path}", content=body, headers=headers)

    return send


@pytest.fixture
def processing(
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    resources: Resources,
    settings: Settings,
) -> WebhookProcessing:
    return WebhookProcessing(
        session_factory,
        clock=clock,
        processors=resources.processors,
        crypto=resources.crypto,
        settings=settings,
    )


async def stored_events(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookEvent]:
    async with sessions() as session:
        statement = select(WebhookEvent).order_by(WebhookEvent.received_at, WebhookEvent.id)
        return list((await session.scalars(statement)).all())


async def simulator_webhook(
    engine: AsyncEngine, processor_transaction_id: str, event_type: str
) -> bytes:
    """The body the simulator owes the gateway about one of its transactions."""
    async with AsyncSession(engine) as session:
        statement = select(SimulatorWebhook.body).where(
            SimulatorWebhook.transaction_id == int(processor_transaction_id),
            SimulatorWebhook.event_type == f"net.authorize.payment.{event_type}",
        )
        bodies = list((await session.scalars(statement)).all())
    assert len(bodies) == 1, bodies
    return bodies[0].encode()


@pytest.fixture
def workers(
    job_environment: Redis,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
) -> Iterator[Redis]:
    """The worker environment, with this run's signature key and quick safe retries."""
    keys = settings.processor.authorize_net_signature_keys
    assert keys
    monkeypatch.setenv("GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS", keys[0])
    monkeypatch.setenv("GATEWAY_PROCESSOR_RETRY_DEADLINE_S", "0.1")
    monkeypatch.setenv("GATEWAY_BREAKER_FAIL_MAX", "100")
    yield job_environment
    job_environment.delete("gateway:simulator:outage")


def run_committed(work: Callable[[AsyncSession, Simulator], Awaitable[T]]) -> T:
    """`work` on a committed session and a simulator, on a loop of its own."""

    async def main_() -> T:
        engine = create_async_engine(os.environ["DATABASE_URL"], poolclass=NullPool)
        redis = AsyncRedis.from_url(os.environ["REDIS_URL"])
        try:
            simulator = Simulator(engine, redis, SystemClock())
            async with AsyncSession(engine, expire_on_commit=False) as session:
                result = await work(session, simulator)
                await session.commit()
                return result
        finally:
            await redis.aclose()
            await engine.dispose()

    return run_in_thread(lambda: asyncio.run(main_()))


def committed_admin_key(merchant_name: str) -> str:
    """An admin test key of a new merchant, committed for processes of their own."""

    async def work(session: AsyncSession, _: Simulator) -> str:
        service = MerchantService(session, SystemClock())
        merchant = await service.create_merchant(merchant_name)
        issued = await service.create_key(merchant.id, [Scope.ADMIN], livemode=False)
        return issued.secret

    return run_committed(work)
