"""The outbox relay job (queue `maintenance`): cron runs it, commits nudge it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from datetime import timedelta

from redis import Redis
from rq import get_current_job

from gateway.audit.outbox import EventOutbox, OutboxRelay, OutboxSource, rq_enqueue
from gateway.composition.worker import current_runtime
from gateway.core.queues import missing_jobs, rq_connection
from gateway.core.settings import Settings
from gateway.processors.simulator.webhooks import SimulatorWebhookOutbox
from gateway.webhooks.outbound.fanout import DeliveryFanout
from gateway.webhooks.outbox import InboxOutbox
from jobs.context import JobContext, job_context, take_tick_lock


def outbox_sources(settings: Settings) -> tuple[OutboxSource, ...]:
    """Every table whose rows become jobs: state changes (with the outbound
    deliveries they fan out to), inbound webhooks to process, the simulator's
    webhooks to post."""
    schedule = settings.webhooks.webhook_retry_schedule_s
    return (
        EventOutbox(fanouts=(DeliveryFanout(),)),
        InboxOutbox(schedule),
        SimulatorWebhookOutbox(schedule),
    )


# A job relayed this long ago whose row still waits, and which Redis no longer
# holds, was lost (Redis restarted empty): it is enqueued again.
LOST_AFTER = timedelta(minutes=1)


async def relay_outbox() -> int:
    """Relay every unpublished row, a batch per transaction; then enqueue again the
    jobs Redis lost."""
    async with job_context("relay_outbox") as job:
        if not await take_tick_lock(job.session, "relay_outbox"):
            return 0
        assert job.settings.redis.url is not None
        with _redis(job.settings.redis.url) as connection:
            return await _relay(job, connection)


@contextlib.contextmanager
def _redis(url: str) -> Iterator[Redis]:
    """Under a gateway worker, the worker's own (pooled) RQ connection: a client
    per nudge was a connection set up and torn down per commit's relay. Anywhere
    else, a connection of the job's own, closed after it."""
    current = get_current_job()
    if current_runtime() is not None and current is not None:
        yield current.connection
        return
    connection = rq_connection(url)
    try:
        yield connection
    finally:
        connection.close()


async def _relay(job: JobContext, connection: Redis) -> int:
    enqueue = rq_enqueue(connection)
    relayed = 0
    while True:
        async with job.sessions() as session:
            relay = OutboxRelay(session, job.clock, outbox_sources(job.settings))
            batch = await relay.relay(enqueue)
            await session.commit()
        relayed += batch
        if not batch:
            break
    async with job.sessions() as session:
        relay = OutboxRelay(session, job.clock, outbox_sources(job.settings))
        relayed += await relay.recover_lost(
            enqueue,
            functools.partial(missing_jobs, connection),
            published_before=job.clock.now() - LOST_AFTER,
        )
        await session.commit()
    return relayed
