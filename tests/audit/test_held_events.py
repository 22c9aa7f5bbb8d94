"""Invariant 4 and the outbox: the relay never sees an event held by a movement in
flight, nor a suppressed one; releasing the movement lets its events go."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch, OutboxRelay
from gateway.audit.repository import EventRepository
from gateway.audit.service import Actor, Change, HistoryService, ObjectType, Subject
from gateway.core.clock import FrozenClock
from gateway.core.ids import new_id

ACTOR = Actor(kind="api", request_id="req_held")


def subject(object_type: ObjectType = "transaction") -> Subject:
    return Subject(
        merchant_id="mer_0000000000000001",
        livemode=False,
        object_type=object_type,
        object_id=new_id(object_type[:3]),
    )


async def relayed(session: AsyncSession, clock: FrozenClock) -> list[str]:
    sent: list[Dispatch] = []
    await OutboxRelay(session, clock).relay(sent.extend)
    return [dispatch.event_id for dispatch in sent]


async def test_invariant_4_the_relay_never_sees_a_held_event(
    db_session: AsyncSession, clock: FrozenClock
) -> None:
    history = HistoryService(db_session, clock)
    moving, other = subject(), subject()
    held = await history.record_change(
        Change(moving, None, "pending"), ACTOR, held_until_movement=moving.object_id
    )
    free = await history.record_change(Change(other, None, "pending"), ACTOR)

    claimed = await EventRepository(db_session).claim_unpublished(limit=100)
    assert [event.id for event in claimed] == [free.id]
    assert await relayed(db_session, clock) == [free.id]
    assert await relayed(db_session, clock) == [], "held: still waiting for its movement"

    await history.release_movement(moving.object_id)
    assert await relayed(db_session, clock) == [held.id]


async def test_a_release_frees_every_object_the_movement_held_and_nothing_else(
    db_session: AsyncSession, clock: FrozenClock
) -> None:
    history = HistoryService(db_session, clock)
    charge, subscription, unrelated = subject(), subject("subscription"), subject()
    created = await history.record_change(Change(subscription, None, "incomplete"), ACTOR)
    await history.hold_objects([subscription.object_id], movement_id=charge.object_id)
    opened = await history.record_change(
        Change(charge, None, "pending"), ACTOR, held_until_movement=charge.object_id
    )
    waiting = await history.record_change(
        Change(unrelated, None, "pending"), ACTOR, held_until_movement=unrelated.object_id
    )
    assert await relayed(db_session, clock) == []

    await history.release_movement(charge.object_id)

    assert set(await relayed(db_session, clock)) == {created.id, opened.id}
    still = await db_session.get(Event, waiting.id, populate_existing=True)
    assert still is not None
    assert (still.held_until_movement, still.published_at) == (unrelated.object_id, None)


async def test_suppressed_events_are_never_relayed_and_their_sequence_still_goes_up(
    db_session: AsyncSession, clock: FrozenClock
) -> None:
    history = HistoryService(db_session, clock)
    gone = subject("subscription")
    first = await history.record_change(Change(gone, None, "incomplete"), ACTOR)
    await history.suppress_objects([gone.object_id])
    assert await relayed(db_session, clock) == []
    second = await history.record_change(Change(gone, "incomplete", "canceled"), ACTOR)
    await history.suppress_objects([gone.object_id])

    assert (first.sequence, second.sequence) == (1, 2)
    assert await relayed(db_session, clock) == []
    assert (await EventRepository(db_session).unpublished())[0] == 0, "not a backlog"
