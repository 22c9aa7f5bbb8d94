"""The outbox relay job (queue `maintenance`): cron runs it, commits nudge it."""

from __future__ import annotations

import asyncio

from gateway.audit.outbox import OutboxRelay, rq_enqueue, rq_enqueue_work
from gateway.core.queues import rq_connection
from jobs.context import job_context, take_tick_lock


async def relay_outbox() -> int:
    """Relay every unpublished event, a batch per transaction."""
    async with job_context("relay_outbox") as job:
        if not await take_tick_lock(job.session, "relay_outbox"):
            return 0
        assert job.settings.redis.url is not None
        connection = rq_connection(job.settings.redis.url)
        enqueue = rq_enqueue(connection)
        enqueue_work = rq_enqueue_work(connection)
        relayed = 0
        try:
            while True:
                async with job.sessions() as session:
                    batch = await OutboxRelay(session, job.clock).relay(
                        enqueue, enqueue_work=enqueue_work
                    )
                    await session.commit()
                relayed += batch
                if not batch:
                    return relayed
        finally:
            await asyncio.to_thread(connection.close)
