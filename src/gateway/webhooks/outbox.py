"""The inbox as an outbox: a stored event's processing job goes to RQ through the
relay, so it is enqueued only once the row is committed, never lost while Redis
is away, and never twice for one delivery (a duplicate inserts no row)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.outbox import Dispatch
from gateway.core.queues import jittered
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.repository import WebhookEventRepository

PROCESS_JOB = "jobs.webhooks.process_webhook_event"
QUEUE = "webhooks"


def job_id_of(event: WebhookEvent) -> str:
    """RQ replaces a job enqueued again under its id: a replay needs an id of its own."""
    return f"webhook-{event.id}" + (f"-replay-{event.replays}" if event.replays else "")


class InboxOutbox:
    name = "webhook_events"

    def __init__(self, retry_schedule: Sequence[int]) -> None:
        # GATEWAY_WEBHOOK_RETRY_SCHEDULE_S: one retry per interval, jittered per job.
        self.retry_schedule = tuple(retry_schedule)

    def _dispatch(self, event: WebhookEvent) -> Dispatch:
        return Dispatch(
            job_id=job_id_of(event),
            event_id=event.id,
            queue=QUEUE,
            function=PROCESS_JOB,
            retry_intervals=jittered(self.retry_schedule),
        )

    async def claim(self, session: AsyncSession, *, limit: int, now: datetime) -> list[Dispatch]:
        claimed = await WebhookEventRepository(session).claim_unpublished(limit=limit)
        return [self._dispatch(event) for event in claimed]

    async def unfinished(
        self, session: AsyncSession, *, published_before: datetime, limit: int
    ) -> list[Dispatch]:
        waiting = await WebhookEventRepository(session).unfinished(
            published_before=published_before, limit=limit
        )
        return [self._dispatch(event) for event in waiting]

    async def mark_published(
        self, session: AsyncSession, row_ids: Sequence[str], *, at: datetime
    ) -> None:
        await WebhookEventRepository(session).mark_published(row_ids, at=at)
