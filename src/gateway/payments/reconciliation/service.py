"""Reconciliation: ask the processor what became of transactions left `pending`.

A transaction stays pending when phase 2 lost the processor's answer (a read
timeout, a crash) or the processor holds it for review. The sweep claims them
oldest first, asks the processor (a charge or a refund by our own reference, a
capture or a void through its parent's record: `lookup`; never re-sending
anything, DESIGN.md invariant 4) and hands the answer to the
same phase-3 code the API runs, so a reconciled transaction ends exactly as if
the answer had come in time: same statuses, same parent updates, same events,
with actor `reconciliation`, and the events the movement's phase 1 held are
released in the same commit (a referral to review releases them itself).

Not found at the processor: the call may still be on its way, so the
transaction waits with backoff until it is GATEWAY_RECONCILE_NOT_FOUND_AFTER_MINUTES
old, then fails ("not found at processor"). Every inconclusive look (not found
yet, held for review, processor unreachable) pushes the next look back:
1, 2, 4, 8, 16, then every 30 minutes; `--now` ignores that backoff.

The service never commits: its caller (`reconcile_pass`) commits each batch,
holding the batch's row locks across the read-only lookups so that a concurrent
pass, `--now` included, skips those rows rather than asking twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.faults import FaultPoints
from gateway.core.settings import PaymentSettings
from gateway.core.tenancy import Owner
from gateway.idempotency.key_claim import is_stored
from gateway.idempotency.runner import MoneyRunner
from gateway.idempotency.store import IdempotencyStore, StoredResponse
from gateway.payments.models import Transaction
from gateway.payments.operations import (
    CallResult,
    Context,
    Reserved,
)
from gateway.payments.reconciliation.dispatch import (
    ACTOR,
    BATCH_SIZE,
    NOT_FOUND_REASON,
    Sighting,
    backoff,
    finalizer_for,
)
from gateway.payments.reconciliation.lookup import look_up
from gateway.payments.repository import TransactionRepository
from gateway.payments.responses import response_for
from gateway.payments.service import TransactionService
from gateway.payments.states import (
    FailureKind,
    ParentStatus,
    PendingReason,
    TransactionType,
    approved_status,
    is_parent,
)
from gateway.payments.sweeps.claims import Cursor, SweepRepository
from gateway.payments.sweeps.service import context_for
from gateway.processors.breaker import ProcessorUnavailable
from gateway.processors.port import (
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    ProcessorResult,
    ProcessorTransaction,
)
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor

_log = structlog.get_logger("gateway.reconciliation")


@dataclass
class ReconcileSummary:
    claimed: int = 0
    resolved: Counter[str] = field(default_factory=Counter)  # by the status reached
    still_pending: int = 0  # held for review, not found yet, or the processor unreachable
    failed_not_found: int = 0  # also counted in `resolved["failed"]`
    answers_stored: int = 0  # Idempotency-Keys of dead requests given their answer

    def add(self, other: ReconcileSummary) -> None:
        self.claimed += other.claimed
        self.resolved.update(other.resolved)
        self.still_pending += other.still_pending
        self.failed_not_found += other.failed_not_found
        self.answers_stored += other.answers_stored

    def as_dict(self) -> dict[str, object]:
        return {
            "claimed": self.claimed,
            "resolved": {str(status): count for status, count in sorted(self.resolved.items())},
            "still_pending": self.still_pending,
            "failed_not_found": self.failed_not_found,
            "answers_stored": self.answers_stored,
        }


@dataclass(frozen=True)
class Batch:
    summary: ReconcileSummary
    cursor: Cursor | None  # None: nothing left to claim in this pass


class ReconciliationService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        clock: Clock,
        processors: ProcessorRegistry,
        crypto: FieldCrypto,
        settings: PaymentSettings,
        actor: Actor = ACTOR,
    ) -> None:
        self.session = session
        self.clock = clock
        self.processors = processors
        self.crypto = crypto
        self.settings = settings
        # Reconciliation, or whoever brought the processor's record (a webhook).
        self.actor = actor
        self.transactions = TransactionService(session, clock)
        self.sweeps = SweepRepository(session)

    async def reconcile_batch(
        self, *, limit: int = BATCH_SIZE, ignore_backoff: bool = False, after: Cursor | None = None
    ) -> Batch:
        now = self.clock.now()
        # A transaction younger than the Idempotency-Key lock may still be in its own
        # request's phase 2: that request's phase 3 must write its outcome, not us.
        grace = timedelta(seconds=self.settings.idempotency_lock_seconds)
        claimed = await self.sweeps.claim_pending(
            created_before=now - grace,
            due_at=None if ignore_backoff else now,
            after=after,
            limit=limit,
        )
        summary = ReconcileSummary(claimed=len(claimed.rows))
        answers: dict[str, StoredResponse] = {}
        for transaction in claimed.rows:
            answer = await self._reconcile(transaction, now, summary)
            if answer is not None:
                answers[transaction.id] = answer
        summary.answers_stored = await self._store_answers(answers, now)
        return Batch(summary=summary, cursor=claimed.cursor)

    async def _reconcile(
        self, transaction: Transaction, now: datetime, summary: ReconcileSummary
    ) -> StoredResponse | None:
        """Resolve one claimed transaction if the processor can tell; the answer the
        request would have got when it was resolved."""
        try:
            processor = self.processors.for_mode(transaction.livemode)
            sighting = await look_up(transaction, processor, TransactionRepository(self.session))
        except (NotSentError, OutcomeUnknownError, ProcessorUnavailable) as error:
            _log.warning(
                "reconciliation.unreachable", transaction_id=transaction.id, error=str(error)
            )
            await self._wait(transaction, now, summary)
            return None
        return await self._resolve(transaction, sighting, processor, now, summary)

    async def reconcile_one(self, transaction: Transaction) -> bool:
        """One look at one pending transaction (locked by the caller), as a pass takes
        at this clock's time: for a caller that must settle its own transactions
        now (a test clock's advance). Whether it left `pending`."""
        now = self.clock.now()
        answer = await self._reconcile(transaction, now, ReconcileSummary())
        if answer is not None:
            await self._store_answers({transaction.id: answer}, now)
        return transaction.status != ParentStatus.PENDING

    async def settle_from_record(
        self, transaction: Transaction, found: ProcessorTransaction, processor: ResilientProcessor
    ) -> bool:
        """Finish a pending transaction (locked by the caller) from a processor record
        that came another way (a webhook), exactly as a pass would: same statuses,
        events, orphan mark and stored answer for a request that died. Whether it
        left `pending`."""
        now = self.clock.now()
        sighting = Sighting.of_record(TransactionType(transaction.type), found)
        answer = await self._resolve(transaction, sighting, processor, now, ReconcileSummary())
        if answer is not None:
            await self._store_answers({transaction.id: answer}, now)
        return transaction.status != ParentStatus.PENDING

    async def _resolve(
        self,
        transaction: Transaction,
        sighting: Sighting,
        processor: ResilientProcessor,
        now: datetime,
        summary: ReconcileSummary,
    ) -> StoredResponse | None:
        found = sighting.record
        context = context_for(
            transaction,
            actor=self.actor,
            processor=processor,
            crypto=self.crypto,
            settings=self.settings,
        )
        kind = TransactionType(transaction.type)
        result = sighting.result(kind)
        if found is not None and result is None and is_parent(kind):
            return await self._refer(transaction, found, summary)
        failure_kind = None
        if result is None:
            if transaction.created_at > now - self._not_found_after:
                await self._wait(transaction, now, summary)
                return None
            result = ProcessorResult(
                outcome=Outcome.ERROR, processor_transaction_id=None, reason_text=NOT_FOUND_REASON
            )
            failure_kind = FailureKind.NOT_FOUND_AT_PROCESSOR
            summary.failed_not_found += 1
        return await self._finalize(
            transaction,
            found=found,
            as_void=sighting.as_void(kind),
            result=result,
            failure_kind=failure_kind,
            context=context,
            now=now,
            summary=summary,
        )

    @property
    def _not_found_after(self) -> timedelta:
        return timedelta(minutes=self.settings.reconcile_not_found_after_minutes)

    async def _finalize(
        self,
        transaction: Transaction,
        *,
        found: ProcessorTransaction | None,
        as_void: bool,
        result: ProcessorResult,
        failure_kind: FailureKind | None,
        context: Context,
        now: datetime,
        summary: ReconcileSummary,
    ) -> StoredResponse | None:
        unknown_outcome = transaction.pending_reason == PendingReason.UNKNOWN_OUTCOME
        reserved = Reserved(
            object_id=transaction.id,
            parent_id=transaction.parent_id,
            as_void=as_void,
            call=CallResult.ANSWERED,
            result=result,
            processed_at=found.submitted_at if found is not None else None,
            failure_kind=failure_kind,
            locked=transaction,  # locked by whoever handed it here (a pass, a webhook)
        )
        answer = await finalizer_for(transaction, context, self.clock).finalize(
            self.session, reserved
        )
        if transaction.status == ParentStatus.PENDING:  # still held for review
            await self._wait(transaction, now, summary)
            return None
        kind = TransactionType(transaction.type)
        await self.transactions.reconciled(transaction)
        if is_parent(kind) and transaction.status == approved_status(kind) and unknown_outcome:
            # Its client was answered 202 and may believe it failed: compensation
            # judges it once the client had time to replay its key.
            await self.transactions.mark_orphan(transaction, since=now)
        if found is not None:
            await self.learn_settlement(transaction, found)
        summary.resolved[transaction.status] += 1
        _log.info(
            "reconciliation.resolved",
            transaction_id=transaction.id,
            status=transaction.status,
            processor_status=None if found is None else found.status,
        )
        return answer

    async def _refer(
        self,
        transaction: Transaction,
        found: ProcessorTransaction,
        summary: ReconcileSummary,
    ) -> StoredResponse:
        """A charge the processor holds in a state no answer to a charge gives
        (voided, refunded, charged back...): a person must look."""
        # Out of `pending` without the phase-3 code: the movement ends here.
        await self.transactions.history.release_movement(transaction.id)
        await self.transactions.refer_for_review(
            transaction,
            self.actor,
            reason=f"the processor reports it {found.status}",
            processor_transaction_id=found.processor_transaction_id,
        )
        summary.resolved[transaction.status] += 1
        _log.warning(
            "reconciliation.referred", transaction_id=transaction.id, processor_status=found.status
        )
        return response_for(transaction, self.crypto)

    async def learn_settlement(self, transaction: Transaction, found: ProcessorTransaction) -> bool:
        """A charge the processor settled while we did not know it: refunds and
        cancels follow `settled_at` (the settlement run only marks what it settles).
        Whether `settled_at` was learnt."""
        if found.settled_at is None:
            return False
        charge = transaction
        if transaction.parent_id is not None:
            owner = Owner(transaction.merchant_id, transaction.livemode)
            charge = await self.transactions.get(owner, transaction.parent_id)
        if charge.status == ParentStatus.CAPTURED and charge.settled_at is None:
            await self.transactions.learn_settlement(charge, settled_at=found.settled_at)
            return True
        return False

    async def _wait(
        self, transaction: Transaction, now: datetime, summary: ReconcileSummary
    ) -> None:
        await self.transactions.postpone_reconciliation(
            transaction, until=now + backoff(transaction.reconcile_attempts + 1)
        )
        summary.still_pending += 1

    async def _store_answers(self, answers: Mapping[str, StoredResponse], now: datetime) -> int:
        """Give the Idempotency-Keys of requests that died after phase 1 the answer
        their phase 3 would have stored: the same `response_for` the runner rebuilds
        a replay from, kept by the same rule (`is_stored`)."""
        storable = {key: answer for key, answer in answers.items() if is_stored(answer)}
        records = await self.sweeps.abandoned_keys(list(storable), now=now)
        store = IdempotencyStore(
            self.session,
            clock=self.clock,
            crypto=self.crypto,
            lock_seconds=self.settings.idempotency_lock_seconds,
            retention_hours=self.settings.idempotency_retention_hours,
        )
        for record in records:
            assert record.transaction_id is not None  # selected by it
            await store.complete(record.id, storable[record.transaction_id])
        return len(records)


async def reconcile_pass(
    sessions: async_sessionmaker[AsyncSession],
    *,
    clock: Clock,
    processors: ProcessorRegistry,
    crypto: FieldCrypto,
    settings: PaymentSettings,
    ignore_backoff: bool = False,
    batch_size: int = BATCH_SIZE,
    faults: FaultPoints | None = None,
) -> ReconcileSummary:
    """One sweep over every pending transaction due (all of them with
    `ignore_backoff`), one committed transaction per batch: the phase 3 of the
    movements it finishes, so it commits through the money runner."""
    runner = MoneyRunner(sessions, faults=faults)
    total = ReconcileSummary()
    cursor: Cursor | None = None
    while True:

        async def finish(session: AsyncSession, after: Cursor | None = cursor) -> Batch:
            service = ReconciliationService(
                session, clock=clock, processors=processors, crypto=crypto, settings=settings
            )
            return await service.reconcile_batch(
                limit=batch_size, ignore_backoff=ignore_backoff, after=after
            )

        batch = await runner.finish(finish)
        total.add(batch.summary)
        if batch.cursor is None or batch.summary.claimed < batch_size:
            break
        cursor = batch.cursor
    _log.info("reconciliation.pass", **total.as_dict())
    return total
