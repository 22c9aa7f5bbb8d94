"""Invariant 4 and the outbox: what a money movement's phase 1 writes is held from
the relay until the commit that finishes the movement, its own phase 3 or, when
that never came, reconciliation's; sweeps' voids are held the same way."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch, OutboxRelay
from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.merchants.models import Merchant
from gateway.payments.operations import ChargeOperation
from gateway.payments.schemas import CancelIn, ChargeIn
from gateway.payments.states import TransactionType
from gateway.payments.sweeps.compensation import CompensationVoid
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body
from tests.payments.conftest import Sweeps


async def relayed_objects(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> list[str]:
    """One relay pass, committed: the objects whose events went out."""
    sent: list[Dispatch] = []
    async with sessions() as session:
        await OutboxRelay(session, clock).relay(sent.extend)
        ids = [dispatch.event_id for dispatch in sent]
        objects = (await session.scalars(select(Event.object_id).where(Event.id.in_(ids)))).all()
        await session.commit()
    return list(objects)


def purchase(sweeps: Sweeps, merchant: Merchant) -> ChargeOperation:
    body = msgspec.convert(charge_body(1500), ChargeIn)
    return ChargeOperation(
        TransactionType.PURCHASE, body, sweeps.context(merchant.id), sweeps.clock
    )


async def test_invariant_4_events_of_an_in_flight_purchase_wait_for_phase_3(
    sweeps: Sweeps, merchant: Merchant
) -> None:
    operation = purchase(sweeps, merchant)
    async with sweeps.sessions() as session:
        reserved = await operation.reserve(session)
        await session.commit()
    assert await relayed_objects(sweeps.sessions, sweeps.clock) == []

    await operation.call(reserved)
    assert await relayed_objects(sweeps.sessions, sweeps.clock) == []

    async with sweeps.sessions() as session:
        await operation.finalize(session, reserved)
        await session.commit()
    # Both events at once: the pending one was held, the captured one never was.
    relayed = await relayed_objects(sweeps.sessions, sweeps.clock)
    assert relayed == [reserved.object_id, reserved.object_id]


async def test_invariant_4_reconciliation_releases_what_a_dead_request_held(
    sweeps: Sweeps, merchant: Merchant
) -> None:
    reserved = await sweeps.without_phase_3(purchase(sweeps, merchant))
    sweeps.past_the_lock()
    assert await relayed_objects(sweeps.sessions, sweeps.clock) == []

    summary = await sweeps.reconcile()

    assert dict(summary.resolved) == {"captured": 1}
    relayed = await relayed_objects(sweeps.sessions, sweeps.clock)
    assert relayed == [reserved.object_id, reserved.object_id]


async def test_invariant_4_a_compensation_void_is_held_until_it_finishes(
    sweeps: Sweeps, merchant: Merchant, post: Post
) -> None:
    # An orphan: the processor took it while its client got 202 and never came back.
    lost = await post("authorize", charge_body(90100, number=TRIGGER_CARD))
    assert lost.status_code == 202
    authorized = lost.json()["id"]
    sweeps.past_the_lock()
    assert (await sweeps.reconcile()).resolved
    sweeps.clock.advance(timedelta(minutes=sweeps.settings.orphan_after_minutes))
    await relayed_objects(sweeps.sessions, sweeps.clock)  # the authorization's own events
    context = replace(sweeps.context(merchant.id), actor=Actor(kind="reconciliation"))
    void = CompensationVoid(CancelIn(transaction_id=authorized), context, sweeps.clock)
    reserved = await sweeps.without_phase_3(void)
    assert await relayed_objects(sweeps.sessions, sweeps.clock) == []

    async with sweeps.sessions() as session:
        await void.finalize(session, reserved)
        await session.commit()

    relayed = await relayed_objects(sweeps.sessions, sweeps.clock)
    assert sorted(relayed) == sorted([reserved.object_id] * 2 + [authorized])
