"""Processing a stored event, in a worker (queue `webhooks`).

The payload is never trusted: the transaction it names is fetched from the
processor by id, and that record is what `payments.processor_records` applies to
our transaction, with actor `webhook` and the event's id as the request id of
the events it writes. So a duplicate, an event delivered out of order, or a
forged one whose fetched truth contradicts it changes nothing wrong.

Retries belong to RQ (`Retry` on GATEWAY_WEBHOOK_RETRY_SCHEDULE_S, jittered per
job, run by the scheduler). Each failed attempt is written on the row
(`failed`, attempts, last error); the last one makes it `dead`, kept in
PostgreSQL with its error until someone replays it. An event for a transaction
we do not know (yet) is asked again the same way until
GATEWAY_WEBHOOK_UNMATCHED_GRACE_S after its receipt (or its last attempt), then
processed with outcome `unmatched`.

New events come in batches (`process_batch`, one RQ job for several events):
each event is still its own attempt and its own transaction, and one that fails
is written as failed and handed back to be retried alone on the schedule, so a
batch never retries, blocks or undoes the others. The processor look-ups of a
batch run a few at a time, outside any transaction (no row lock is held across
a processor call), while its events are applied in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.logging import mask_card_numbers
from gateway.core.settings import Settings
from gateway.payments.processor_records import ProcessorRecords, RecordOutcome
from gateway.processors.port import ProcessorTransaction
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor
from gateway.webhooks import metrics
from gateway.webhooks.errors import EventNotMatched, NoConnector, TransactionBusy
from gateway.webhooks.repository import EventView, WebhookEventRepository

_log = structlog.get_logger("gateway.webhooks")

IGNORED: Final = "ignored"  # not about a transaction (customer profiles, subscriptions)
UNMATCHED: Final = "unmatched"
_ERROR_LENGTH: Final = 500
_CONCURRENT_LOOK_UPS: Final = 8

# What an event's look-up brings: the processor asked and its record (None: it
# has none), or None for an event about no transaction.
Found = tuple[ResilientProcessor, ProcessorTransaction | None] | None
# Schedules an event's own job after its attempt in a batch failed: (id, replays).
RetryAlone = Callable[[str, int], None]


class WebhookProcessing:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Clock,
        processors: ProcessorRegistry,
        crypto: FieldCrypto,
        settings: Settings,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.processors = processors
        self.crypto = crypto
        self.settings = settings

    async def process(self, event_id: str, *, last_attempt: bool) -> str:
        """One attempt; the outcome, or raises (after writing the failure) so that
        RQ retries. `last_attempt`: no retry is left if this one fails."""
        async with self.sessions() as session:
            snapshot = await WebhookEventRepository(session).processing_view(event_id)
        if snapshot is None:
            return "missing"
        if snapshot.status == "processed":
            return "already_processed"  # a stale retry, or a second replay
        return await self._attempt(snapshot, self._look_up(snapshot), last_attempt=last_attempt)

    async def process_batch(
        self, event_ids: Sequence[str], *, retry_alone: RetryAlone | None
    ) -> dict[str, str]:
        """One attempt at each event of a batch still `received`; each outcome.
        An event that fails has its failure written and is handed to `retry_alone`
        (its own job, on the retry schedule); with None (no retry scheduled at
        all) its failure makes it dead. The others go on regardless."""
        async with self.sessions() as session:
            views = await WebhookEventRepository(session).processing_views(event_ids)
        outcomes = {event_id: "missing" for event_id in event_ids if event_id not in views}
        # Failed or dead: its own retry job (or a replay) owns it; processed: done.
        outcomes |= {
            view.id: "already_processed" if view.status == "processed" else f"{view.status}_alone"
            for view in views.values()
            if view.status != "received"
        }
        waiting = [views[key] for key in dict.fromkeys(event_ids) if key not in outcomes]
        look_ups = self._look_ups(waiting)
        for view in waiting:
            try:
                outcomes[view.id] = await self._attempt(
                    view, look_ups[view.id], last_attempt=retry_alone is None
                )
            except Exception:  # noqa: BLE001 - written on the row by `_attempt`; retried alone
                outcomes[view.id] = "dead" if retry_alone is None else "failed"
                if retry_alone is not None:
                    retry_alone(view.id, view.replays)
        return outcomes

    def _look_ups(self, views: Sequence[EventView]) -> dict[str, Awaitable[Found]]:
        """The processor's records of a batch's transactions, fetched concurrently
        (a few at a time) while the batch is applied in order: a batch of slow
        look-ups takes about one look-up per `_CONCURRENT_LOOK_UPS` events, not
        one each, within its job's timeout. A fetch that fails fails its event."""
        gate = asyncio.Semaphore(_CONCURRENT_LOOK_UPS)

        async def gated(view: EventView) -> Found:
            async with gate:
                return await self._look_up(view)

        return {view.id: asyncio.ensure_future(gated(view)) for view in views}

    async def _look_up(self, snapshot: EventView) -> Found:
        if snapshot.entity_name != "transaction" or not snapshot.entity_id:
            return None
        processor = self._processor(snapshot.source)
        return processor, await processor.get_transaction(snapshot.entity_id)

    async def _attempt(
        self, snapshot: EventView, look_up: Awaitable[Found], *, last_attempt: bool
    ) -> str:
        try:
            return await self._process(snapshot, look_up, last_attempt=last_attempt)
        except Exception as error:
            await self._record_failure(snapshot.id, error, dead=last_attempt)
            raise

    async def _process(
        self, snapshot: EventView, look_up: Awaitable[Found], *, last_attempt: bool
    ) -> str:
        fetched = await look_up
        if fetched is None:
            return await self._finish(snapshot, IGNORED)
        processor, found = fetched
        event_id = snapshot.id
        async with self.sessions() as session:
            inbox = WebhookEventRepository(session)
            if not await inbox.lock_unprocessed(event_id):
                return "already_processed"
            result = None
            if found is not None:
                records = ProcessorRecords(
                    session,
                    clock=self.clock,
                    processors=self.processors,
                    crypto=self.crypto,
                    settings=self.settings.payments,
                    actor=Actor(kind="webhook", request_id=event_id),
                )
                result = await records.apply(found, processor, reference=snapshot.reference)
            if result is None or result.outcome is RecordOutcome.UNMATCHED:
                if not (last_attempt or self._grace_over(snapshot)):
                    raise EventNotMatched(
                        f"no transaction matches {snapshot.source} {snapshot.entity_id} yet"
                    )
                outcome = UNMATCHED
            elif result.outcome is RecordOutcome.BUSY:
                raise TransactionBusy(
                    "an operation of ours on this transaction is unfinished; asked again later"
                )
            else:
                outcome = str(result.outcome)
            await inbox.mark_processed(
                event_id,
                outcome=outcome,
                at=self.clock.now(),
                charge=None if result is None else result.charge,
            )
            await session.commit()
        self._count(snapshot, outcome)
        return outcome

    def _processor(self, source: str) -> ResilientProcessor:
        if source == "simulator":
            return self.processors.test
        live = self.processors.live
        if live is None or live.name != source:
            raise NoConnector(f"this deployment has no {source} connector (GATEWAY_PROCESSOR)")
        return live

    def _grace_over(self, snapshot: EventView) -> bool:
        grace = timedelta(seconds=self.settings.webhooks.webhook_unmatched_grace_s)
        return self.clock.now() >= snapshot.received_at + grace

    async def _finish(self, snapshot: EventView, outcome: str) -> str:
        async with self.sessions() as session:
            inbox = WebhookEventRepository(session)
            if not await inbox.lock_unprocessed(snapshot.id):
                return "already_processed"
            await inbox.mark_processed(
                snapshot.id, outcome=outcome, at=self.clock.now(), charge=None
            )
            await session.commit()
        self._count(snapshot, outcome)
        return outcome

    def _count(self, snapshot: EventView, outcome: str) -> None:
        metrics.PROCESSED.labels(snapshot.source, outcome).inc()
        lag = (self.clock.now() - snapshot.received_at).total_seconds()
        metrics.LAG.labels(snapshot.source).observe(max(lag, 0.0))
        _log.info("webhook.processed", event_id=snapshot.id, outcome=outcome, lag_s=round(lag, 3))

    async def _record_failure(self, event_id: str, error: Exception, *, dead: bool) -> None:
        message = mask_card_numbers(f"{type(error).__name__}: {error}")[:_ERROR_LENGTH]
        try:
            async with self.sessions() as session:
                event = await WebhookEventRepository(session).record_failure(
                    event_id, error=message, dead=dead, at=self.clock.now()
                )
                await session.commit()
        except Exception:  # noqa: BLE001 - the attempt's own error is what RQ must see
            _log.exception("webhook.failure_not_recorded", event_id=event_id)
            return
        if event is None:
            return
        metrics.FAILED_ATTEMPTS.labels(event.source).inc()
        if dead:
            metrics.DEAD_LETTERS.labels(event.source).inc()
            _log.error("webhook.dead_lettered", event_id=event_id, error=message)
        else:
            _log.warning("webhook.attempt_failed", event_id=event_id, error=message)
