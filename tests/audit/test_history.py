"""Invariant 7: every state change appends an event in the same transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import AuditEntry, Event
from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import FrozenClock

SUBJECT = Subject(
    merchant_id="mer_0000000000000001",
    livemode=False,
    object_type="transaction",
    object_id="txn_0000000000000001",
)
API = Actor(kind="api", request_id="req_1", api_key_id="key_1", ip_address="203.0.113.9")


async def test_invariant_7_events_get_per_object_sequences(
    db_session: AsyncSession, clock: FrozenClock
) -> None:
    history = HistoryService(db_session, clock)
    other = Subject(**{**SUBJECT.__dict__, "object_id": "txn_0000000000000002"})
    first = await history.record_change(Change(SUBJECT, None, "pending"), API)
    second = await history.record_change(Change(SUBJECT, "pending", "captured"), API)
    elsewhere = await history.record_change(Change(other, None, "pending"), API)
    assert (first.sequence, second.sequence, elsewhere.sequence) == (1, 2, 1)
    events = await history.history(SUBJECT.merchant_id, SUBJECT.object_id)
    assert [(e.sequence, e.from_status, e.to_status) for e in events] == [
        (1, None, "pending"),
        (2, "pending", "captured"),
    ]
    assert {e.request_id for e in events} == {"req_1"}
    assert {e.actor for e in events} == {"api"}
    assert all(e.published_at is None for e in events), "unpublished: the outbox relay ships them"


async def test_invariant_7_events_roll_back_with_the_change(
    session_factory: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    async with session_factory() as session:
        await HistoryService(session, clock).record_change(Change(SUBJECT, None, "pending"), API)
        await session.rollback()
    async with session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(Event))
    assert count == 0


async def test_a_sequence_is_never_reused(db_session: AsyncSession, clock: FrozenClock) -> None:
    history = HistoryService(db_session, clock)
    await history.record_change(Change(SUBJECT, None, "pending"), API)
    duplicate = Event(
        id="evt_0000000000000009",
        merchant_id=SUBJECT.merchant_id,
        livemode=False,
        object_type="transaction",
        object_id=SUBJECT.object_id,
        sequence=1,
        to_status="captured",
        actor="api",
        created_at=clock.now(),
    )
    db_session.add(duplicate)
    with pytest.raises(IntegrityError):
        await db_session.flush()


async def test_each_api_mutation_writes_an_audit_row(
    db_session: AsyncSession, clock: FrozenClock
) -> None:
    history = HistoryService(db_session, clock)
    await history.record_mutation(SUBJECT, "payment.purchase", API, {"amount": 1500})
    rows = (await db_session.scalars(select(AuditEntry))).all()
    assert [(r.action, r.api_key_id, r.request_id, r.ip_address, r.details) for r in rows] == [
        ("payment.purchase", "key_1", "req_1", "203.0.113.9", {"amount": 1500})
    ]
