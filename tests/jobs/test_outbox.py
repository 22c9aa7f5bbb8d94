"""The durable outbox: events reach RQ after their change commits, once, and wait
while Redis is away (issue: processor resilience, point 6)."""

from __future__ import annotations

import asyncio

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import SimpleWorker
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch, OutboxRelay, rq_enqueue
from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import FrozenClock, SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import SERIALIZER, rq_queue
from jobs.events import dispatch_event
from jobs.outbox import relay_outbox
from tests.fixtures.payments import Post, charge_body
from tests.support import nudged, run_in_thread

ACTOR = Actor(kind="api", request_id="req_outbox")


def subject(object_id: str | None = None) -> Subject:
    return Subject(
        merchant_id="mer_0000000000000001",
        livemode=False,
        object_type="transaction",
        object_id=object_id or new_id("txn"),
    )


async def record(sessions: async_sessionmaker[AsyncSession], *subjects: Subject) -> None:
    async with sessions() as session:
        history = HistoryService(session, SystemClock())
        for each in subjects:
            await history.record_change(Change(each, None, "pending"), ACTOR)
        await session.commit()


@pytest.fixture
def sessions(committed_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(committed_engine, expire_on_commit=False)


async def test_committed_events_are_relayed_once_and_marked(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    await record(sessions, subject(), subject())
    sent: list[Dispatch] = []
    async with sessions() as session:
        assert await OutboxRelay(session, clock).relay(sent.extend) == 2
        await session.commit()
    async with sessions() as session:
        assert await OutboxRelay(session, clock).relay(sent.extend) == 0
        unpublished = await session.scalar(
            select(func.count()).select_from(Event).where(Event.published_at.is_(None))
        )
    assert len(sent) == 2
    assert unpublished == 0


async def test_a_rolled_back_change_sends_nothing(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    async with sessions() as session:
        await HistoryService(session, clock).record_change(
            Change(subject(), None, "pending"), ACTOR
        )
        await session.rollback()
    sent: list[Dispatch] = []
    async with sessions() as session:
        assert await OutboxRelay(session, clock).relay(sent.extend) == 0
    assert sent == []


async def test_while_redis_is_down_events_wait_and_go_out_when_it_returns(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, test_redis_url: str
) -> None:
    await record(sessions, subject())
    down = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    async with sessions() as session:
        with pytest.raises(RedisConnectionError):
            await OutboxRelay(session, clock).relay(rq_enqueue(down))
        await session.rollback()
    up = Redis.from_url(test_redis_url)
    async with sessions() as session:
        assert await OutboxRelay(session, clock).relay(rq_enqueue(up)) == 1
        await session.commit()
    assert rq_queue("deliveries", up).count == 1
    up.close()
    down.close()


async def test_events_of_a_request_still_in_flight_wait(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    busy, done = subject(), subject()
    await record(sessions, done)
    async with sessions() as session:
        await HistoryService(session, clock).record_change(
            Change(busy, None, "pending"), ACTOR, held_until_movement=busy.object_id
        )
        await session.commit()
    sent: list[Dispatch] = []
    async with sessions() as session:
        await OutboxRelay(session, clock).relay(sent.extend)
        await session.commit()
    assert [dispatch.event_id for dispatch in sent] != []
    async with sessions() as session:
        waiting = (
            await session.scalars(select(Event.object_id).where(Event.published_at.is_(None)))
        ).all()
    assert waiting == [busy.object_id]


async def test_two_relays_never_take_the_same_row(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock
) -> None:
    await record(sessions, *[subject() for _ in range(20)])
    first: list[Dispatch] = []
    second: list[Dispatch] = []
    async with sessions() as one, sessions() as two:
        taken_first = await OutboxRelay(one, clock).relay(first.extend, limit=12)
        taken_second = await OutboxRelay(two, clock).relay(second.extend, limit=12)
        await one.commit()
        await two.commit()
    assert (taken_first, taken_second) == (12, 8)
    assert not {d.event_id for d in first} & {d.event_id for d in second}


def test_a_real_worker_relays_then_dispatches(job_environment: Redis, database_url: str) -> None:
    async def seed() -> None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        await record(async_sessionmaker(engine, expire_on_commit=False), subject())
        await engine.dispose()

    run_in_thread(lambda: asyncio.run(seed()))
    maintenance = rq_queue("maintenance", job_environment)
    relay = maintenance.enqueue(relay_outbox)
    SimpleWorker([maintenance], connection=job_environment, serializer=SERIALIZER).work(burst=True)
    result = relay.latest_result()
    assert result is not None
    assert result.return_value == 1, result.exc_string
    deliveries = rq_queue("deliveries", job_environment)
    assert deliveries.count == 1
    dispatched = deliveries.jobs[0]
    assert dispatched.func_name == dispatch_event.__module__ + ".dispatch_event"
    SimpleWorker([deliveries], connection=job_environment, serializer=SERIALIZER).work(burst=True)
    assert dispatched.return_value(refresh=True) == "dispatched"


async def test_a_payment_nudges_the_relay(post: Post, redis_client: AsyncRedis) -> None:
    response = await post("purchase", charge_body())
    assert response.status_code == 201
    assert await nudged(redis_client)


def test_relay_is_registered_with_cron() -> None:
    from rq.cron import CronScheduler  # noqa: PLC0415

    scheduler = CronScheduler(connection=Redis())
    scheduler.load_config_from_file("jobs.cron")
    assert "relay_outbox" in {job.func.__name__ for job in scheduler.get_jobs()}  # type: ignore[union-attr]
