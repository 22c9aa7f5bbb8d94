"""What reconciliation makes of what the processor reports: the backoff between
looks, the finisher of each transaction type (exhaustively, by type and by a
void's origin), and the processor's statuses read as an outcome, from a call's
own record or from its parent's. Pure: no session, no processor call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Protocol, assert_never

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.idempotency.store import StoredResponse
from gateway.payments.models import Transaction
from gateway.payments.operations import (
    CancelOperation,
    CaptureOperation,
    ChargeFinalizer,
    Context,
    RefundOperation,
    Reserved,
)
from gateway.payments.schemas import CancelIn, CaptureIn, RefundIn
from gateway.payments.states import (
    TransactionType,
    is_parent,
)
from gateway.payments.sweeps.compensation import CompensationVoid
from gateway.payments.sweeps.expiry import ExpiryVoid
from gateway.processors.port import (
    Outcome,
    ProcessorResult,
    ProcessorTransaction,
)

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


def _landed(kind: TransactionType) -> frozenset[str]:
    """The statuses of a call's own record that show a call of `kind` went through."""
    match kind:
        case TransactionType.CAPTURE:
            return CAPTURED_STATUSES
        case TransactionType.REFUND:
            return REFUNDED_STATUSES
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
    if found.status in _landed(kind):
        return _result(found, Outcome.APPROVED)
    if found.status == "declined":
        return _result(found, Outcome.DECLINED)
    if found.status in _FAILED:
        return _result(found, Outcome.ERROR)
    return None


def parent_result(kind: TransactionType, parent: ProcessorTransaction) -> ProcessorResult | None:
    """A capture, a void, or a full refund sent as a void keeps its parent's transId
    (ANET.md §2): the parent's record, read as that call's answer. Approved when
    the parent's status shows the call went through; None otherwise, as nothing
    in the parent's record can say the call was declined (a declined parent is
    the parent's own story)."""
    match kind:
        case TransactionType.CAPTURE:
            landed = CAPTURED_STATUSES
        case TransactionType.VOID | TransactionType.REFUND:
            landed = VOIDED_STATUSES
        case TransactionType.PURCHASE | TransactionType.AUTHORIZATION:
            raise ValueError(f"a {kind} has no parent: see charge_result")
        case _:
            assert_never(kind)
    return _result(parent, Outcome.APPROVED) if parent.status in landed else None


@dataclass(frozen=True)
class Sighting:
    """What reconciliation found of one transaction at the processor: its own
    record, or (`through_parent`) the record of the parent whose transId the call
    kept; `record` None when the processor shows nothing."""

    record: ProcessorTransaction | None
    through_parent: bool = False

    @classmethod
    def of_record(cls, kind: TransactionType, record: ProcessorTransaction) -> Sighting:
        """A record fetched another way (a webhook's) for a transaction of `kind`:
        a child's record that is not a refund's is its parent's, whose transId the
        capture, the void or the refund sent as a void kept."""
        through_parent = not is_parent(kind) and record.kind != TransactionType.REFUND
        return cls(record, through_parent=through_parent)

    def result(self, kind: TransactionType) -> ProcessorResult | None:
        """The answer phase 2 would have had; None when the record shows none."""
        if self.record is None:
            return None
        if self.through_parent:
            return parent_result(kind, self.record)
        return processor_result(kind, self.record)

    def as_void(self, kind: TransactionType) -> bool:
        """A refund seen through its parent landed as a void (a full refund before
        settlement is sent as one): its phase 3 says so."""
        return kind is TransactionType.REFUND and self.through_parent
