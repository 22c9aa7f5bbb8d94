"""Reconciliation: ask the processor what became of transactions left `pending`.

A transaction stays pending when phase 2 lost the processor's answer (a read
timeout, a crash) or the processor holds it for review. The sweep claims them
oldest first, asks the processor by our own reference (`find_by_reference`:
never re-sending anything, DESIGN.md invariant 4) and hands the answer to the
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, assert_never

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
    CancelOperation,
    CaptureOperation,
    ChargeFinalizer,
    Context,
    RefundOperation,
    Reserved,
)
from gateway.payments.responses import response_for
from gateway.payments.schemas import CancelIn, CaptureIn, RefundIn
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
from gateway.payments.sweeps.compensation import CompensationVoid
from gateway.payments.sweeps.expiry import ExpiryVoid
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

ACTOR = Actor(kind="reconciliation")
NOT_FOUND_REASON = "not found at processor"
BATCH_SIZE = 100

_BACKOFF_FIRST = timedelta(minutes=1)
_BACKOFF_CAP = timedelta(minutes=30)

# ANET.md §4 transactionStatus values, by what they make of a charge we hold pending.
_CHARGE_OUTCOMES: Mapping[str, Outcome] = {
    "authorizedPendingCapture": Outcome.APPROVED,
    "capturedPendingSettlement": Outcome.APPROVED,
    "settledSuccessfully": Outcome.APPROVED,
    "approvedReview": Outcome.APPROVED,
    "pendingFinalSettlement": Outcome.APPROVED,
    "pendingSettlement": Outcome.APPROVED,
    "updatingSettlement": Outcome.APPROVED,
    "FDSPendingReview": Outcome.HELD,
    "FDSAuthorizedPendingReview": Outcome.HELD,
    "underReview": Outcome.HELD,
    "declined": Outcome.DECLINED,
    "failedReview": Outcome.DECLINED,
    "generalError": Outcome.ERROR,
    "communicationError": Outcome.ERROR,
}
# An authorization the processor approved and then let lapse: it is recorded as
# authorized from the processor's time, already past its lifetime, and the expiry
# sweep ends it like any other.
_LAPSED = "expired"
CAPTURED_STATUSES = frozenset(
    {
        "capturedPendingSettlement",
        "settledSuccessfully",
        "pendingFinalSettlement",
        "pendingSettlement",
        "updatingSettlement",
        "returnedItem",
        "chargeback",
        "chargebackReversal",
    }
)
REFUNDED_STATUSES = frozenset({"refundPendingSettlement", "refundSettledSuccessfully"})
VOIDED_STATUSES = frozenset({"voided"})
_FAILED = frozenset(
    status for status, outcome in _CHARGE_OUTCOMES.items() if outcome is Outcome.ERROR
)
_REASON_TEXTS = {
    Outcome.DECLINED: "declined at the processor",
    Outcome.ERROR: "error at the processor",
}


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th inconclusive look."""
    exponent = min(max(attempts - 1, 0), 16)  # past the cap anyway; keeps the number small
    return min(_BACKOFF_FIRST * (1 << exponent), _BACKOFF_CAP)


class _Finalizer(Protocol):
    async def finalize(self, session: AsyncSession, reserved: Reserved) -> StoredResponse: ...


class VoidOrigin(StrEnum):
    """Who started a void, so a lost answer is finished that one's way."""

    MERCHANT = "merchant"  # a cancel request
    EXPIRY = "expiry"
    COMPENSATION = "compensation"


# The jobs that void write their own `reason` on the void row (client-visible,
# API.md), so that text is what tells them apart: read once, here.
_VOID_ORIGINS: Mapping[str | None, VoidOrigin] = {
    None: VoidOrigin.MERCHANT,
    ExpiryVoid.child_reason: VoidOrigin.EXPIRY,
    CompensationVoid.child_reason: VoidOrigin.COMPENSATION,
}


def void_origin(void: Transaction) -> VoidOrigin:
    # Any other text is a void no job of ours started: finish it as a cancel, as
    # the API would.
    return _VOID_ORIGINS.get(void.reason, VoidOrigin.MERCHANT)


def _void_operation(origin: VoidOrigin) -> Callable[[CancelIn, Context, Clock], CancelOperation]:
    match origin:
        case VoidOrigin.MERCHANT:
            return CancelOperation
        case VoidOrigin.EXPIRY:
            return ExpiryVoid
        case VoidOrigin.COMPENSATION:
            return CompensationVoid
        case _:
            assert_never(origin)


def _parent_id(child: Transaction) -> str:
    assert child.parent_id is not None  # a child always has its parent
    return child.parent_id


def finalizer_for(transaction: Transaction, context: Context, clock: Clock) -> _Finalizer:
    """The phase-3 code the API would have run for this transaction."""
    kind = TransactionType(transaction.type)
    match kind:
        case TransactionType.PURCHASE | TransactionType.AUTHORIZATION:
            return ChargeFinalizer(kind, context, clock)
        case TransactionType.CAPTURE:
            capture = CaptureIn(transaction_id=_parent_id(transaction))
            return CaptureOperation(capture, context, clock)
        case TransactionType.REFUND:
            refund = RefundIn(transaction_id=_parent_id(transaction))
            return RefundOperation(refund, context, clock)
        case TransactionType.VOID:
            void = _void_operation(void_origin(transaction))
            return void(CancelIn(transaction_id=_parent_id(transaction)), context, clock)
        case _:
            assert_never(kind)


def _result(found: ProcessorTransaction, outcome: Outcome) -> ProcessorResult:
    return ProcessorResult(
        outcome=outcome,
        processor_transaction_id=found.processor_transaction_id,
        reason_code=found.reason_code if outcome is not Outcome.APPROVED else None,
        reason_text=_REASON_TEXTS.get(outcome),
        auth_code=found.auth_code,
    )


def charge_result(kind: TransactionType, found: ProcessorTransaction) -> ProcessorResult | None:
    """The processor's record of a charge as the answer phase 2 would have had;
    None when it is in a state no answer gives (voided, refunded, charged back...)."""
    if kind is TransactionType.AUTHORIZATION and found.status == _LAPSED:
        return _result(found, Outcome.APPROVED)
    outcome = _CHARGE_OUTCOMES.get(found.status)
    return None if outcome is None else _result(found, outcome)


def _landed(kind: TransactionType, found: ProcessorTransaction) -> frozenset[str]:
    """The processor's statuses that show a call of `kind` went through."""
    match kind:
        case TransactionType.CAPTURE:
            return CAPTURED_STATUSES
        case TransactionType.REFUND:
            # A full refund before settlement is sent as a void.
            return VOIDED_STATUSES if found.kind == "void" else REFUNDED_STATUSES
        case TransactionType.VOID:
            return VOIDED_STATUSES
        case TransactionType.PURCHASE | TransactionType.AUTHORIZATION:
            raise ValueError(f"a {kind} is not a child transaction: see charge_result")
        case _:
            assert_never(kind)


def processor_result(kind: TransactionType, found: ProcessorTransaction) -> ProcessorResult | None:
    """The processor's record as the answer phase 2 would have had, for any type."""
    if is_parent(kind):
        return charge_result(kind, found)
    return child_result(kind, found)


def child_result(kind: TransactionType, found: ProcessorTransaction) -> ProcessorResult | None:
    """The processor's record of a capture, refund or void call; None when the call
    did not land (the record shows the target unchanged)."""
    if found.status in _landed(kind, found):
        return _result(found, Outcome.APPROVED)
    if found.status == "declined":
        return _result(found, Outcome.DECLINED)
    if found.status in _FAILED:
        return _result(found, Outcome.ERROR)
    return None


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
            found = await processor.find_by_reference(transaction.id)
        except (NotSentError, OutcomeUnknownError, ProcessorUnavailable) as error:
            _log.warning(
                "reconciliation.unreachable", transaction_id=transaction.id, error=str(error)
            )
            await self._wait(transaction, now, summary)
            return None
        return await self._resolve(transaction, found, processor, now, summary)

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
        answer = await self._resolve(transaction, found, processor, now, ReconcileSummary())
        if answer is not None:
            await self._store_answers({transaction.id: answer}, now)
        return transaction.status != ParentStatus.PENDING

    async def _resolve(
        self,
        transaction: Transaction,
        found: ProcessorTransaction | None,
        processor: ResilientProcessor,
        now: datetime,
        summary: ReconcileSummary,
    ) -> StoredResponse | None:
        context = context_for(
            transaction,
            actor=self.actor,
            processor=processor,
            crypto=self.crypto,
            settings=self.settings,
        )
        kind = TransactionType(transaction.type)
        result = None
        if found is not None:
            result = processor_result(kind, found)
            if result is None and is_parent(kind):
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
            as_void=found is not None and found.kind == "void",
            call=CallResult.ANSWERED,
            result=result,
            processed_at=found.submitted_at if found is not None else None,
            failure_kind=failure_kind,
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
            store.complete(record, storable[record.transaction_id])
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
