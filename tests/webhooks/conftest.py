"""Posting signed webhooks to the app, and processing the stored events with the
test's own sessions, clock and simulator (the worker's code, without RQ)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.core.clock import FrozenClock
from gateway.core.resources import Resources
from gateway.core.settings import Settings
from gateway.processors.simulator.models import SimulatorWebhook
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.processing import WebhookProcessing
from gateway.webhooks.signature import sign

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
