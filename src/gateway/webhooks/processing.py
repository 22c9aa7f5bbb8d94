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
"""

from __future__ import annotations

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
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor
from gateway.webhooks import metrics
from gateway.webhooks.errors import EventNotMatched, NoConnector, TransactionBusy
from gateway.webhooks.repository import EventView, WebhookEventRepository

_log = structlog.get_logger("gateway.webhooks")

IGNORED: Final = "ignored"  # not about a transaction (customer profiles, subscriptions)
UNMATCHED: Final = "unmatched"
_ERROR_LENGTH: Final = 500


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
        try:
            return await self._process(event_id, last_attempt=last_attempt)
        except Exception as error:
            await self._record_failure(event_id, error, dead=last_attempt)
            raise

    async def _process(self, event_id: str, *, last_attempt: bool) -> str:
        async with self.sessions() as session:
            snapshot = await WebhookEventRepository(session).processing_view(event_id)
        if snapshot is None:
            return "missing"
        if snapshot.status == "processed":
            return "already_processed"  # a stale retry, or a second replay
        if snapshot.entity_name != "transaction" or not snapshot.entity_id:
            return await self._finish(snapshot, IGNORED)
        processor = self._processor(snapshot.source)
        found = await processor.get_transaction(snapshot.entity_id)
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
