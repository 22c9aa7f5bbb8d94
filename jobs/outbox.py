"""The outbox relay job (queue `maintenance`): cron runs it, commits nudge it."""

from __future__ import annotations

import asyncio
import functools
from datetime import timedelta

from gateway.audit.outbox import EventOutbox, OutboxRelay, OutboxSource, rq_enqueue
from gateway.core.queues import missing_jobs, rq_connection
from gateway.core.settings import Settings
from gateway.processors.simulator.webhooks import SimulatorWebhookOutbox
from gateway.webhooks.outbound.fanout import DeliveryFanout
from gateway.webhooks.outbox import InboxOutbox
from jobs.context import job_context, take_tick_lock


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
        connection = rq_connection(job.settings.redis.url)
        enqueue = rq_enqueue(connection)
        relayed = 0
        try:
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
        finally:
            await asyncio.to_thread(connection.close)
