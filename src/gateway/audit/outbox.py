"""The outbox relay: rows committed with their change are handed to RQ.

Work for RQ is written as rows in the same transaction as the change it follows
(DESIGN.md "Events, outbox and background work"), so a rolled-back change sends
nothing, and a Redis outage loses nothing: the rows wait and go out when Redis
is back. A row is marked published in the same transaction that enqueued it; a
relay that dies in between re-enqueues under the same job id, which RQ replaces
rather than duplicates.

An event a money movement wrote in its phase 1 is held (`held_until_movement`)
until the commit that finishes the movement releases it, so nothing of an
object still between its phases goes out (DESIGN.md invariant 4); a suppressed
event never goes out. The repository's claim does the filtering: this package
knows nothing of idempotency keys or runners.

Several tables serve as outboxes, each through an `OutboxSource`: the event
history (every state change), the inbox of processor webhooks, the simulator's
own webhooks. The relay drains them all the same way. Some events also call for
work beyond their dispatch (`ROUTES`: an invoice becoming `open` is charged by
billing), one job per route and relay batch.

A Redis that restarts empty loses the jobs it held although their rows say
"published". Sources whose rows record when their work is done can say which
are still waiting (`unfinished`); `recover_lost` enqueues again those whose job
Redis no longer has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import structlog
from redis import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.repository import EventRepository
from gateway.core.clock import Clock
from gateway.core.queues import QueuedJob, enqueue_all

DISPATCH_JOB = "jobs.events.dispatch_event"
DISPATCH_QUEUE = "deliveries"
BATCH = 500

_log = structlog.get_logger("gateway.outbox")


@dataclass(frozen=True)
class Dispatch:
    """One job to enqueue for one outbox row: ids only, never the object (RQ
    payloads stay clean). `event_id` is the row's id, the job's argument."""

    job_id: str
    event_id: str
    queue: str = DISPATCH_QUEUE
    function: str = DISPATCH_JOB
    retry_intervals: tuple[int, ...] = ()
    # The job's argument when it is not the row's id: routed work gets the ids of
    # the objects whose events called for it.
    object_ids: tuple[str, ...] | None = None

    def as_job(self) -> QueuedJob:
        return QueuedJob(
            queue=self.queue,
            function=self.function,
            argument=self.event_id if self.object_ids is None else self.object_ids,
            job_id=self.job_id,
            retry_intervals=self.retry_intervals,
        )


# Enqueues a batch or raises (Redis down): the caller's transaction then rolls back.
Enqueue = Callable[[list[Dispatch]], None]


@runtime_checkable
class OutboxSource(Protocol):
    """A table whose unpublished rows become jobs."""

    name: str

    async def claim(self, session: AsyncSession, *, limit: int, now: datetime) -> list[Dispatch]:
        """The oldest unpublished rows, locked with SKIP LOCKED (relays never share one).
        `now`: the relay's clock, for whatever the claim writes."""

    async def mark_published(
        self, session: AsyncSession, row_ids: Sequence[str], *, at: datetime
    ) -> None: ...


@runtime_checkable
class RecoverableSource(OutboxSource, Protocol):
    """A source that knows when a row's work is done."""

    async def unfinished(
        self, session: AsyncSession, *, published_before: datetime, limit: int
    ) -> list[Dispatch]:
        """Rows relayed before `published_before` whose work is not done, locked."""


# The job ids among those given that Redis does not hold.
MissingJobs = Callable[[list[str]], set[str]]


def rq_enqueue(connection: Redis) -> Enqueue:
    def enqueue(dispatches: list[Dispatch]) -> None:
        enqueue_all(connection, [dispatch.as_job() for dispatch in dispatches])

    return enqueue


def dispatch_of(event: Event) -> Dispatch:
    return Dispatch(job_id=f"event-{event.id}", event_id=event.id)


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


def routed_work(events: Sequence[Event]) -> list[Dispatch]:
    """The routed jobs a batch of events calls for, one per route, named after the
    first event so that a relay repeating the batch replaces rather than adds."""
    batches: list[Dispatch] = []
    for route in ROUTES:
        matching = [
            event
            for event in events
            if event.object_type == route.object_type and event.to_status == route.to_status
        ]
        if matching:
            first = matching[0]
            batches.append(
                Dispatch(
                    job_id=f"work-{first.id}",
                    event_id=first.id,
                    queue=route.queue,
                    function=route.function,
                    object_ids=tuple(dict.fromkeys(event.object_id for event in matching)),
                )
            )
    return batches


@runtime_checkable
class EventFanout(Protocol):
    """What else a batch of claimed events writes, in the claim's own transaction
    (so a relay that dies neither loses nor doubles it), and the jobs that should
    then run at once. Outbound merchant webhooks are one (issue 18); this package
    never imports them: jobs/outbox.py composes them."""

    async def fan_out(
        self, session: AsyncSession, events: Sequence[Event], *, now: datetime
    ) -> list[Dispatch]: ...


class EventOutbox:
    """State changes (invariant 7), relayed to `jobs.events.dispatch_event`, the
    work routed from them, and what each `fanouts` writes of them."""

    name = "events"

    def __init__(self, fanouts: Sequence[EventFanout] = ()) -> None:
        self.fanouts = tuple(fanouts)

    async def claim(self, session: AsyncSession, *, limit: int, now: datetime) -> list[Dispatch]:
        claimed = await EventRepository(session).claim_unpublished(limit=limit)
        dispatches = [dispatch_of(event) for event in claimed] + routed_work(claimed)
        if claimed:
            for fanout in self.fanouts:
                dispatches += await fanout.fan_out(session, claimed, now=now)
        return dispatches

    async def mark_published(
        self, session: AsyncSession, row_ids: Sequence[str], *, at: datetime
    ) -> None:
        await EventRepository(session).mark_published(row_ids, at=at)


class OutboxRelay:
    def __init__(
        self,
        session: AsyncSession,
        clock: Clock,
        sources: Sequence[OutboxSource] = (EventOutbox(),),
    ) -> None:
        self.session = session
        self.clock = clock
        self.sources = sources

    async def relay(self, enqueue: Enqueue, *, limit: int = BATCH) -> int:
        """Relay one batch of each source; returns how many rows went out."""
        now = self.clock.now()
        claimed = {
            source.name: (source, await source.claim(self.session, limit=limit, now=now))
            for source in self.sources
        }
        dispatches = [dispatch for _, batch in claimed.values() for dispatch in batch]
        if not dispatches:
            return 0
        enqueue(dispatches)
        for source, batch in claimed.values():
            if batch:
                rows = list(dict.fromkeys(dispatch.event_id for dispatch in batch))
                await source.mark_published(self.session, rows, at=now)
        _log.info(
            "outbox.relayed", **{name: len(batch) for name, (_, batch) in claimed.items() if batch}
        )
        return len(dispatches)

    async def recover_lost(
        self,
        enqueue: Enqueue,
        missing: MissingJobs,
        *,
        published_before: datetime,
        limit: int = BATCH,
    ) -> int:
        """Enqueue again the unfinished rows whose job Redis lost; returns how many.
        A job still queued, running or scheduled for a retry is left alone."""
        lost: list[Dispatch] = []
        for source in self.sources:
            if not isinstance(source, RecoverableSource):
                continue
            waiting = await source.unfinished(
                self.session, published_before=published_before, limit=limit
            )
            gone = missing([dispatch.job_id for dispatch in waiting]) if waiting else set()
            lost += [dispatch for dispatch in waiting if dispatch.job_id in gone]
        if lost:
            enqueue(lost)
            _log.warning("outbox.lost_jobs_enqueued", jobs=len(lost))
        return len(lost)
