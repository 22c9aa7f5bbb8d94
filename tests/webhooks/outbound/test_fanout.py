"""The relay's claim writes one delivery per event per subscribed endpoint, in its
own transaction: never for an event still held or suppressed, never twice, and
only to the endpoints of the event's merchant and mode that listen to its type."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.audit.models import Event
from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.webhooks.outbound.fanout import DeliveryFanout
from gateway.webhooks.outbound.models import WebhookDelivery
from tests.fixtures.payments import Post, charge_body
from tests.payments.conftest import Sweeps
from tests.payments.test_held_events import purchase
from tests.webhooks.outbound.relaying import Outbound, new_endpoint, relay_once


async def purchased(post: Post) -> str:
    response = await post("purchase", charge_body(1500))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_each_subscribed_endpoint_gets_one_pending_delivery_due_at_once(
    post: Post, outbound: Outbound
) -> None:
    first, second = await outbound.endpoint(), await outbound.endpoint(["payment.captured"])
    transaction_id = await purchased(post)

    sent = await outbound.relay()

    deliveries = await outbound.deliveries()
    assert sorted(d.endpoint_id for d in deliveries) == sorted([first, second])
    async with outbound.sessions() as session:
        event = (
            await session.scalars(
                select(Event).where(
                    Event.object_id == transaction_id, Event.to_status == "captured"
                )
            )
        ).one()
    for delivery in deliveries:
        assert delivery.id.startswith("whd_")
        assert (delivery.event_id, delivery.event_type) == (event.id, "payment.captured")
        assert (delivery.object_type, delivery.object_id) == ("transaction", transaction_id)
        assert (delivery.sequence, delivery.merchant_id) == (event.sequence, event.merchant_id)
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert delivery.next_attempt_at == outbound.clock.now() == delivery.created_at
    wakes = [d for d in sent if d.function == "jobs.deliveries.deliver_due"]
    assert len(wakes) == 1
    assert wakes[0].queue == "deliveries"
    assert wakes[0].job_id == f"deliver-{wakes[0].event_id}"


async def test_no_endpoint_listening_means_no_delivery_and_no_wake_up(
    post: Post, outbound: Outbound
) -> None:
    await outbound.endpoint(["subscription.created"])
    await purchased(post)
    sent = await outbound.relay()
    assert await outbound.deliveries() == []
    assert all(d.function != "jobs.deliveries.deliver_due" for d in sent)


async def test_only_enabled_endpoints_of_the_merchant_and_mode_listening_to_the_type_get_one(
    post: Post, outbound: Outbound
) -> None:
    listening = await outbound.endpoint()
    await outbound.endpoint(disabled=True)
    await outbound.endpoint(["payment.refunded", "subscription.created"])
    await outbound.endpoint(merchant_id=new_id("mer"))
    await outbound.endpoint(livemode=True)

    await purchased(post)
    await outbound.relay()

    assert [d.endpoint_id for d in await outbound.deliveries()] == [listening]


async def test_events_relayed_again_write_no_second_delivery(
    post: Post, outbound: Outbound
) -> None:
    await outbound.endpoint()
    await purchased(post)
    await outbound.relay()
    before = [(d.id, d.event_id) for d in await outbound.deliveries()]
    async with outbound.sessions() as session:
        # A relay that died after enqueueing: its events go out once more.
        await session.execute(update(Event).values(published_at=None))
        await session.commit()

    sent = await outbound.relay()

    assert sent, "the events were relayed again"
    assert [(d.id, d.event_id) for d in await outbound.deliveries()] == before
    assert all(d.function != "jobs.deliveries.deliver_due" for d in sent)


async def test_a_held_movement_is_told_only_once_finished(
    sweeps: Sweeps, outbound: Outbound
) -> None:
    await outbound.endpoint()
    reserved = await sweeps.without_phase_3(purchase(sweeps, outbound.merchant))
    sweeps.past_the_lock()
    await outbound.relay()
    assert await outbound.deliveries() == [], "phase 1's events are held"

    assert dict((await sweeps.reconcile()).resolved) == {"captured": 1}

    assert await outbound.types(reserved.object_id) == ["payment.captured"]


async def test_a_batch_costs_a_few_queries_whatever_its_size(
    db_session: AsyncSession, clock: FrozenClock, field_crypto: FieldCrypto, outbound: Outbound
) -> None:
    await outbound.endpoint()
    await outbound.endpoint(["subscription.created"])
    history = HistoryService(db_session, clock)
    events = [
        await history.record_change(
            Change(_subscription(outbound.merchant.id), None, "active"), Actor(kind="api")
        )
        for _ in range(40)
    ]
    statements: list[str] = []
    connection = await db_session.connection()

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa_event.listen(connection.sync_connection, "before_cursor_execute", count)
    try:
        await DeliveryFanout().fan_out(db_session, events, now=clock.now())
    finally:
        sa_event.remove(connection.sync_connection, "before_cursor_execute", count)
    assert len(statements) <= 2, statements  # the endpoints, one insert (no transactions)
    written = await db_session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert written == 80


def _subscription(merchant_id: str) -> Subject:
    return Subject(merchant_id, False, "subscription", new_id("sub"))


# -- concurrency (real commits) ----------------------------------------------------------


@pytest.fixture
async def committed(
    committed_engine: AsyncEngine,
) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(committed_engine, expire_on_commit=False)


async def _committed_events(
    sessions: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    crypto: FieldCrypto,
    count: int,
) -> str:
    merchant_id = new_id("mer")
    async with sessions() as session:
        endpoint = new_endpoint(crypto, merchant_id, clock)
        session.add(endpoint)
        history = HistoryService(session, clock)
        for _ in range(count):
            await history.record_change(
                Change(_subscription(merchant_id), None, "active"), Actor(kind="api")
            )
        await session.commit()
    return endpoint.id


async def _deliveries(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with sessions() as session:
        rows = await session.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id))
        return [(row.endpoint_id, row.event_id) for row in rows]


async def test_two_relays_at_once_write_each_delivery_once(
    committed: async_sessionmaker[AsyncSession], clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    await _committed_events(committed, clock, field_crypto, 30)

    async def one_relay() -> None:
        async with committed() as session:
            while await relay_once(session, clock):
                await session.commit()
            await session.commit()

    await asyncio.gather(one_relay(), one_relay())

    written = await _deliveries(committed)
    assert len(written) == len(set(written)) == 30


async def test_the_same_events_fanned_out_by_two_transactions_at_once_are_delivered_once(
    committed: async_sessionmaker[AsyncSession], clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    await _committed_events(committed, clock, field_crypto, 5)
    async with committed() as session:
        events = list((await session.scalars(select(Event))).all())

    async def fan_out(pause: float) -> int:
        async with committed() as session:
            dispatches = await DeliveryFanout().fan_out(session, events, now=clock.now())
            await asyncio.sleep(pause)  # the other waits on the unique index meanwhile
            await session.commit()
            return len(dispatches)

    woken = await asyncio.gather(fan_out(0.3), fan_out(0))

    assert sorted(woken) == [0, 1], "only the transaction that wrote them wakes a worker"
    written = await _deliveries(committed)
    assert len(written) == len(set(written)) == 5
