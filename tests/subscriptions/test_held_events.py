"""Invariant 4 and the outbox for subscriptions: what a creation's phase 1 writes
(the subscription, its first invoice, the purchase) is held under the first
charge until it is finished; a creation whose first charge fails keeps its rows
and its rising `sequence`, but its subscription's and invoice's events are never
delivered: for clients no subscription was created (API.md "Creation")."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch, OutboxRelay
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.payments.models import Transaction
from gateway.subscriptions.models import Invoice, Subscription
from tests.subscriptions.conftest import TRIGGER_CARD, Api, Billing, new_subscription


class Killed(BaseException):
    """Stands for SIGKILL between phase 2 and phase 3."""


def _die() -> None:
    raise Killed


async def relay(sessions: async_sessionmaker[AsyncSession], clock: FrozenClock) -> set[str]:
    """One relay pass, committed: the objects whose events went out."""
    sent: list[Dispatch] = []
    async with sessions() as session:
        await OutboxRelay(session, clock).relay(sent.extend)
        ids = [dispatch.event_id for dispatch in sent]
        objects = (await session.scalars(select(Event.object_id).where(Event.id.in_(ids)))).all()
        await session.commit()
    return set(objects)


async def history(
    sessions: async_sessionmaker[AsyncSession], object_id: str
) -> list[tuple[int, str | None, str, str | None, bool]]:
    async with sessions() as session:
        events = (
            await session.scalars(
                select(Event).where(Event.object_id == object_id).order_by(Event.sequence)
            )
        ).all()
        return [(e.sequence, e.from_status, e.to_status, e.reason, e.suppressed) for e in events]


async def test_invariant_4_a_failed_creation_shows_no_subscription_and_never_sends_its_events(
    api: Api, billing: Billing
) -> None:
    sessions, clock = billing.sessions, billing.clock
    method = await api.payment_method(TRIGGER_CARD)
    await relay(sessions, clock)  # the payment method's own history, if any

    response = await api.create(new_subscription(method, amount=200), idempotency_key="no")

    assert response.status_code == 402, response.text
    transaction_id = response.json()["transaction_id"]
    async with sessions() as session:
        subscription = (await session.scalars(select(Subscription))).one()
        invoice = (await session.scalars(select(Invoice))).one()
    assert (await api.get(f"/{subscription.id}")).status_code == 404
    assert (await api.get()).json()["data"] == []
    assert (await api.transaction(transaction_id))["subscription_id"] is None
    assert await history(sessions, subscription.id) == [
        (1, None, "incomplete", None, True),
        (2, "incomplete", "canceled", "creation_failed", True),
    ]
    assert await history(sessions, invoice.id) == [
        (1, None, "open", "first period", True),
        (2, "open", "void", "creation_failed", True),
    ]
    assert await relay(sessions, clock) == {transaction_id}, "the declined charge only"
    assert await relay(sessions, clock) == set()


async def test_invariant_4_a_creation_in_flight_holds_its_subscription_until_reconciled(
    api: Api, billing: Billing, resources: Resources
) -> None:
    """Its request dies after the charge: phase 3 never comes, reconciliation does."""
    sessions, clock = billing.sessions, billing.clock
    method = await api.payment_method()
    await relay(sessions, clock)
    resources.faults = FaultPoints({FaultPoint.AFTER_PROCESSOR_CALL: 1.0}, kill=_die)
    with pytest.raises(Killed):
        await api.create(new_subscription(method), idempotency_key="dies")
    resources.faults = FaultPoints.none()
    async with sessions() as session:
        subscription = (await session.scalars(select(Subscription))).one()
        invoice = (await session.scalars(select(Invoice))).one()
        charge = (await session.scalars(select(Transaction))).one()
    assert await relay(sessions, clock) == set(), "all held under the first charge"

    await billing.reconcile()

    assert await relay(sessions, clock) == {subscription.id, invoice.id, charge.id}
