"""The outbox relay: events committed with their change are handed to RQ.

Work for RQ is written as event rows in the same transaction as the change it
follows (DESIGN.md "Events, outbox and background work"), so a rolled-back change
sends nothing, and a Redis outage loses nothing: the rows wait and go out when
Redis is back. A row is marked published in the same transaction that enqueued
it; a relay that dies in between re-enqueues under the same job id, which RQ
replaces rather than duplicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.repository import EventRepository
from gateway.core.clock import Clock
from gateway.core.queues import enqueue_all

DISPATCH_JOB = "jobs.events.dispatch_event"
DISPATCH_QUEUE = "deliveries"
BATCH = 500

_log = structlog.get_logger("gateway.outbox")


@dataclass(frozen=True)
class Dispatch:
    """One job to enqueue: ids only, never the object (RQ payloads stay clean)."""

    job_id: str
    event_id: str


# Enqueues a batch or raises (Redis down): the caller's transaction then rolls back.
Enqueue = Callable[[list[Dispatch]], None]


def rq_enqueue(connection: Redis) -> Enqueue:
    def enqueue(dispatches: list[Dispatch]) -> None:
        enqueue_all(
            connection,
            DISPATCH_QUEUE,
            DISPATCH_JOB,
            [(dispatch.job_id, dispatch.event_id) for dispatch in dispatches],
        )

    return enqueue


def dispatch_of(event: Event) -> Dispatch:
    return Dispatch(job_id=f"event-{event.id}", event_id=event.id)


class OutboxRelay:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.events = EventRepository(session)
        self.clock = clock

    async def relay(self, enqueue: Enqueue, *, limit: int = BATCH) -> int:
        """Relay one batch; returns how many events went out."""
        claimed = await self.events.claim_unpublished(limit=limit)
        if not claimed:
            return 0
        enqueue([dispatch_of(event) for event in claimed])
        await self.events.mark_published([event.id for event in claimed], at=self.clock.now())
        _log.info("outbox.relayed", events=len(claimed))
        return len(claimed)
