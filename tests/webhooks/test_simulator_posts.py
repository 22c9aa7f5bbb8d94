"""The simulator posts what it owes, signed with the current key, to the gateway's
own endpoint (issue point 4), and keeps posting until it is taken."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.processors.simulator import Simulator
from gateway.processors.simulator.models import SimulatorWebhook
from gateway.processors.simulator.webhooks import WebhookNotAccepted
from tests.processors import charge
from tests.webhooks.conftest import stored_events

URL = "http://testserver/api/v1/webhooks/simulator"


async def owed(engine: AsyncEngine) -> SimulatorWebhook:
    async with AsyncSession(engine) as session:
        [webhook] = (await session.scalars(select(SimulatorWebhook))).all()
        return webhook


async def test_a_posted_webhook_is_verified_and_stored_by_the_gateway(
    simulator: Simulator,
    client: httpx.AsyncClient,
    signature_key: str,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    taken = await simulator.purchase(charge(1500))
    webhook = await owed(engine)

    posted = await simulator.post_webhook(webhook.id, url=URL, key=signature_key, client=client)

    assert posted == "posted"
    [event] = await stored_events(session_factory)
    assert (event.source, event.notification_id) == ("simulator", webhook.id)
    assert event.entity_id == taken.processor_transaction_id
    assert (await owed(engine)).delivered_at is not None
    again = await simulator.post_webhook(webhook.id, url=URL, key=signature_key, client=client)
    assert again == "already_delivered"


async def test_a_refused_post_raises_so_that_it_is_retried(
    simulator: Simulator,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await simulator.purchase(charge(1500))
    webhook = await owed(engine)

    with pytest.raises(WebhookNotAccepted, match="401"):
        await simulator.post_webhook(webhook.id, url=URL, key="F" * 128, client=client)

    assert (await owed(engine)).delivered_at is None
    assert await stored_events(session_factory) == []
