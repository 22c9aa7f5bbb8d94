"""Jobs lost with Redis are enqueued again: an inbound event relayed to RQ whose
job a Redis restart wiped would otherwise wait as `received` forever (found by
the chaos suite's Redis restart)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.audit.outbox import Dispatch, OutboxRelay, rq_enqueue
from gateway.core.clock import FrozenClock
from gateway.core.queues import missing_jobs, rq_queue
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.outbox import InboxOutbox, job_id_of
from tests.fixtures.app import flush_test_redis
from tests.webhooks.test_metrics import stored_event


@pytest.fixture
def sessions(committed_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(committed_engine, expire_on_commit=False)


@pytest.fixture
def redis_sync(test_redis_url: str) -> Iterator[Redis]:
    connection = Redis.from_url(test_redis_url)
    flush_test_redis(connection)
    yield connection
    flush_test_redis(connection)
    connection.close()


async def store(sessions: async_sessionmaker[AsyncSession], *events: WebhookEvent) -> None:
    async with sessions() as session:
        session.add_all(events)
        await session.commit()


async def relay(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, redis_sync: Redis
) -> int:
    async with sessions() as session:
        relayed = await OutboxRelay(session, clock, (InboxOutbox((10,)),)).relay(
            rq_enqueue(redis_sync)
        )
        await session.commit()
    return relayed


async def recover(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, redis_sync: Redis
) -> list[Dispatch]:
    sent: list[Dispatch] = []

    def enqueue(dispatches: list[Dispatch]) -> None:
        sent.extend(dispatches)
        rq_enqueue(redis_sync)(dispatches)

    async with sessions() as session:
        relay = OutboxRelay(session, clock, (InboxOutbox((10,)),))
        await relay.recover_lost(
            enqueue,
            lambda ids: missing_jobs(redis_sync, ids),
            published_before=clock.now() - timedelta(minutes=1),
        )
        await session.commit()
    return sent


async def test_a_job_redis_lost_is_enqueued_again_and_only_that_one(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, redis_sync: Redis
) -> None:
    lost, kept, done = (
        stored_event(status, clock) for status in ("received", "failed", "processed")
    )
    for event in (lost, kept, done):
        event.published_at = None
    await store(sessions, lost, kept, done)
    assert await relay(sessions, clock, redis_sync) == 3
    relayed = set(rq_queue("webhooks", redis_sync).job_ids)
    # Redis restarts empty, but the job of `kept` had been scheduled for a retry again.
    flush_test_redis(redis_sync)
    rq_enqueue(redis_sync)([Dispatch(job_id=job_id_of(kept), event_id=kept.id)])

    assert await recover(sessions, clock, redis_sync) == [], "too recent to call lost"
    clock.advance(timedelta(minutes=2))
    again = await recover(sessions, clock, redis_sync)

    assert [dispatch.object_ids for dispatch in again] == [(lost.id,)]
    [batch] = again
    assert batch.job_id in relayed, "the very job the relay enqueued: its batch"
    assert batch.job_id != job_id_of(lost)
    assert missing_jobs(redis_sync, [batch.job_id]) == set()
    assert await recover(sessions, clock, redis_sync) == [], "its job exists again"
