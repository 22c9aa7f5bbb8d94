"""The inbox as an outbox: a stored event's processing job goes to RQ through the
relay, so it is enqueued only once the row is committed, never lost while Redis
is away, and never twice for one delivery (a duplicate inserts no row).

New events go out in batches (issue 20 point 4): one RQ job,
`process_webhook_events(ids)`, for the events of one relay pass that share a
bucket, so RQ's per-job bookkeeping and the job's setup are paid once per batch.
A batch job retries as a whole (RQ `Retry`) only when it dies as a whole (a
killed worker, a timeout); an event that fails inside it is retried alone under
its own job id, `webhook-<id>` (`WebhookProcessing.process_batch`). A replayed
event goes out alone, as `webhook-<id>-replay-<n>`.

A batch's job id is a function of its members' rows alone (the relay pass's
`published_at` and a bucket of the event id), so that recovery of jobs lost
with Redis (`unfinished`) names the very job the relay enqueued and asks Redis
about it, without a column recording the batch:
`webhooks-<published_at, UTC, to the microsecond>-<bucket>`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.outbox import Dispatch
from gateway.core.queues import jittered
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.repository import WebhookEventRepository

PROCESS_JOB: Final = "jobs.webhooks.process_webhook_event"
BATCH_JOB: Final = "jobs.webhooks.process_webhook_events"
QUEUE: Final = "webhooks"
# Batches per relay pass at most: a pass of the relay's 500 rows makes batches of
# ~30 (their look-ups, 8 at a time, stay well within RQ's job timeout even when
# each takes the processor's read timeout), a quiet pass batches of one or two.
# Several, so that every worker of a pool gets some of a burst.
BUCKETS: Final = 16


def single_job_id(event_id: str, replays: int) -> str:
    """RQ replaces a job enqueued again under its id: a replay needs an id of its own."""
    return f"webhook-{event_id}" + (f"-replay-{replays}" if replays else "")


def job_id_of(event: WebhookEvent) -> str:
    """The event's own job: its retries after a failure, or its replay."""
    return single_job_id(event.id, event.replays)


def batch_job_id(published_at: datetime, event_id: str) -> str:
    bucket = zlib.crc32(event_id.encode()) % BUCKETS
    return f"webhooks-{published_at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}-{bucket}"


def _batched(event: WebhookEvent) -> bool:
    """New events go out in batches; a replay, or an event already failed (its
    own retry job owns it), alone."""
    return event.status == "received" and not event.replays


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

    def _dispatches(
        self, events: Iterable[WebhookEvent], *, published_at: datetime | None = None
    ) -> list[Dispatch]:
        """Batches of the new events, in their order, and the others alone.
        `published_at`: the pass that publishes them now, else their rows'."""
        batches: dict[str, list[str]] = {}
        alone: list[Dispatch] = []
        for event in events:
            relayed_at = published_at or event.published_at
            if _batched(event) and relayed_at is not None:
                batches.setdefault(batch_job_id(relayed_at, event.id), []).append(event.id)
            else:
                alone.append(self._dispatch(event))
        return [
            Dispatch(
                job_id=job_id,
                event_id=ids[0],
                queue=QUEUE,
                function=BATCH_JOB,
                retry_intervals=jittered(self.retry_schedule),
                object_ids=tuple(ids),
            )
            for job_id, ids in batches.items()
        ] + alone

    async def claim(self, session: AsyncSession, *, limit: int, now: datetime) -> list[Dispatch]:
        inbox = WebhookEventRepository(session)
        claimed = await inbox.claim_unpublished(limit=limit)
        if not claimed:
            return []
        # Marked here, in the claim's transaction, rather than by the relay's
        # `mark_published`: the relay marks the row each dispatch names, which is
        # only a batch's first. A relay that fails to enqueue rolls this back too.
        await inbox.mark_published([event.id for event in claimed], at=now)
        return self._dispatches(claimed, published_at=now)

    async def unfinished(
        self, session: AsyncSession, *, published_before: datetime, limit: int
    ) -> list[Dispatch]:
        waiting = await WebhookEventRepository(session).unfinished(
            published_before=published_before, limit=limit
        )
        return self._dispatches(waiting)

    async def mark_published(
        self, session: AsyncSession, row_ids: Sequence[str], *, at: datetime
    ) -> None:
        await WebhookEventRepository(session).mark_published(row_ids, at=at)
