"""The outbox relay: events committed with their change are handed to RQ.

Work for RQ is written as event rows in the same transaction as the change it
follows (DESIGN.md "Events, outbox and background work"), so a rolled-back change
sends nothing, and a Redis outage loses nothing: the rows wait and go out when
Redis is back. A row is marked published in the same transaction that enqueued
it; a relay that dies in between re-enqueues under the same job id, which RQ
replaces rather than duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from redis import Redis
from rq import Queue
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


@dataclass(frozen=True)
class Route:
    """Events that also call for work beyond their dispatch: those of `object_type`
    reaching `to_status` go, by object id and a batch per relay batch, to
    `function` on `queue`. Named by path, as every job is, so this package never
    imports the domain it wakes."""

    object_type: str
    to_status: str
    queue: str
    function: str


ROUTES: tuple[Route, ...] = (
    # An invoice becomes `open` when a charge attempt is due: billing charges it.
    Route("invoice", "open", "billing", "jobs.billing.charge_invoices"),
)


@dataclass(frozen=True)
class Work:
    """One routed job: the ids of the objects whose events called for it."""

    job_id: str
    route: Route
    object_ids: tuple[str, ...]


EnqueueWork = Callable[[list[Work]], None]


def rq_enqueue_work(connection: Redis) -> EnqueueWork:
    def enqueue(batches: list[Work]) -> None:
        with connection.pipeline() as pipeline:
            for work in batches:
                Queue(work.route.queue, connection=connection).enqueue(
                    work.route.function,
                    list(work.object_ids),
                    job_id=work.job_id,
                    pipeline=pipeline,
                )
            pipeline.execute()

    return enqueue


def routed_work(events: Sequence[Event]) -> list[Work]:
    """The routed jobs a batch of events calls for, one per route, named after the
    first event so that a relay repeating the batch replaces rather than adds."""
    batches: list[Work] = []
    for route in ROUTES:
        matching = [
            event
            for event in events
            if event.object_type == route.object_type and event.to_status == route.to_status
        ]
        if matching:
            ids = tuple(dict.fromkeys(event.object_id for event in matching))
            batches.append(Work(job_id=f"work-{matching[0].id}", route=route, object_ids=ids))
    return batches


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

    async def relay(
        self, enqueue: Enqueue, *, limit: int = BATCH, enqueue_work: EnqueueWork | None = None
    ) -> int:
        """Relay one batch; returns how many events went out. Without
        `enqueue_work`, routed work is not sent (tests of the dispatch alone)."""
        claimed = await self.events.claim_unpublished(limit=limit)
        if not claimed:
            return 0
        enqueue([dispatch_of(event) for event in claimed])
        work = routed_work(claimed)
        if enqueue_work is not None and work:
            enqueue_work(work)
        await self.events.mark_published([event.id for event in claimed], at=self.clock.now())
        _log.info("outbox.relayed", events=len(claimed))
        return len(claimed)
