"""Invariant 4 and the outbox: a processor's webhook that finishes a movement whose
phase 3 never came releases the events its phase 1 held."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch, OutboxRelay
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.core.settings import Settings
from gateway.payments.models import Transaction
from gateway.processors.simulator import Simulator
from gateway.webhooks.processing import WebhookProcessing
from tests.fixtures.payments import Post, charge_body
from tests.webhooks.conftest import Deliver, simulator_webhook


class Killed(BaseException):
    """Stands for SIGKILL between phase 2 and phase 3."""


def _die() -> None:
    raise Killed


async def held_and_published(
    sessions: async_sessionmaker[AsyncSession], object_id: str
) -> list[tuple[str | None, bool]]:
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Event.held_until_movement, Event.published_at.is_not(None))
                .where(Event.object_id == object_id)
                .order_by(Event.sequence)
            )
        ).all()
    return [(row[0], bool(row[1])) for row in rows]


async def test_invariant_4_a_processor_webhook_releases_what_a_dead_request_held(
    resources: Resources,
    post: Post,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    resources.faults = FaultPoints({FaultPoint.AFTER_PROCESSOR_CALL: 1.0}, kill=_die)
    with pytest.raises(Killed):
        await post("purchase", charge_body(1500), key="dies-after-the-call")
    resources.faults = FaultPoints.none()
    async with session_factory() as session:
        transaction_id = (await session.scalars(select(Transaction.id))).one()
    assert await held_and_published(session_factory, transaction_id) == [(transaction_id, False)]
    found = await simulator.find_by_reference(transaction_id)
    assert found is not None
    clock.advance(timedelta(seconds=settings.payments.idempotency_lock_seconds + 1))
    body = await simulator_webhook(engine, found.processor_transaction_id, "authcapture.created")
    received = await deliver(body, path="simulator")
    assert received.status_code == 200, received.text

    assert await processing.process(received.json()["id"], last_attempt=False) == "applied"

    assert await held_and_published(session_factory, transaction_id) == [
        (None, False),
        (None, False),
    ]
    sent: list[Dispatch] = []
    async with session_factory() as session:
        await OutboxRelay(session, clock).relay(sent.extend)
        await session.commit()
    assert await held_and_published(session_factory, transaction_id) == [
        (None, True),
        (None, True),
    ]
