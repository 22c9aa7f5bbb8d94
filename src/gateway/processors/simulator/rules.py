"""The sandbox's rules for calls on an existing transaction (ANET.md §2): capture,
void, refund, and the statuses they move between. Pure: the caller loads and
locks the rows, these functions only judge them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from gateway.processors.port import Outcome
from gateway.processors.simulator.models import SimulatorTransaction


class Kind(StrEnum):
    PURCHASE = "purchase"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"


class Status(StrEnum):
    """The transactionStatus values the simulator uses (ANET.md §4)."""

    AUTHORIZED_PENDING_CAPTURE = "authorizedPendingCapture"
    CAPTURED_PENDING_SETTLEMENT = "capturedPendingSettlement"
    SETTLED_SUCCESSFULLY = "settledSuccessfully"
    REFUND_PENDING_SETTLEMENT = "refundPendingSettlement"
    REFUND_SETTLED_SUCCESSFULLY = "refundSettledSuccessfully"
    VOIDED = "voided"
    DECLINED = "declined"
    EXPIRED = "expired"
    FDS_PENDING_REVIEW = "FDSPendingReview"
    FDS_AUTHORIZED_PENDING_REVIEW = "FDSAuthorizedPendingReview"


HELD_STATUS_BY_REASON: Final = {
    "252": Status.FDS_PENDING_REVIEW,
    "253": Status.FDS_AUTHORIZED_PENDING_REVIEW,
}
HELD_STATUSES: Final = frozenset(HELD_STATUS_BY_REASON.values())
VOIDABLE_STATUSES: Final = frozenset(
    {
        Status.AUTHORIZED_PENDING_CAPTURE,
        Status.CAPTURED_PENDING_SETTLEMENT,
        Status.REFUND_PENDING_SETTLEMENT,
        *HELD_STATUSES,
    }
)
CAPTURED_STATUSES: Final = frozenset(
    {Status.CAPTURED_PENDING_SETTLEMENT, Status.SETTLED_SUCCESSFULLY}
)
# Refunds still counting against what a charge can give back.
LIVE_REFUND_STATUSES: Final = frozenset(
    {Status.REFUND_PENDING_SETTLEMENT, Status.REFUND_SETTLED_SUCCESSFULLY}
)
SETTLES_TO: Final = {
    Status.CAPTURED_PENDING_SETTLEMENT: Status.SETTLED_SUCCESSFULLY,
    Status.REFUND_PENDING_SETTLEMENT: Status.REFUND_SETTLED_SUCCESSFULLY,
}

INVALID_AMOUNT: Final = "5"
DUPLICATE: Final = "11"
NOT_FOUND: Final = "16"
CURRENCY_NOT_ACCEPTED: Final = "39"
CAPTURE_ABOVE_AUTHORIZED: Final = "47"
REFUND_CRITERIA: Final = "54"
REFUNDS_EXCEED_ORIGINAL: Final = "55"
ALREADY_VOIDED: Final = "310"
ALREADY_CAPTURED: Final = "311"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason_code: str | None = None
    already_done: bool = False

    @property
    def proceeds(self) -> bool:
        """Whether the call changes the ledger (approved, and not a 310/311 repeat)."""
        return self.outcome is Outcome.APPROVED and not self.already_done


_GO: Final = Verdict(Outcome.APPROVED)


def _error(reason_code: str) -> Verdict:
    return Verdict(Outcome.ERROR, reason_code)


def status_at(row: SimulatorTransaction, now: datetime) -> Status:
    """The status as of `now`: an authorization past its expiry is `expired` even
    before the settlement run writes it, so lookups and captures agree."""
    status = Status(row.status)
    if (
        status is Status.AUTHORIZED_PENDING_CAPTURE
        and row.expires_at is not None
        and now >= row.expires_at
    ):
        return Status.EXPIRED
    return status


def capture_verdict(
    target: SimulatorTransaction | None, amount: int | None, currency: str, *, now: datetime
) -> Verdict:
    if target is None or target.kind == Kind.REFUND:
        return _error(NOT_FOUND)
    if currency != target.currency:
        return _error(CURRENCY_NOT_ACCEPTED)
    status = status_at(target, now)
    if status in CAPTURED_STATUSES:
        return Verdict(Outcome.APPROVED, ALREADY_CAPTURED, already_done=True)
    # Voided, expired, declined or held: no authorization to capture, as the sandbox
    # answers a priorAuthCapture whose transaction it cannot use.
    if status is not Status.AUTHORIZED_PENDING_CAPTURE:
        return _error(NOT_FOUND)
    if amount is not None and amount <= 0:
        return _error(INVALID_AMOUNT)
    if amount is not None and amount > target.amount:
        return _error(CAPTURE_ABOVE_AUTHORIZED)
    return _GO


def void_verdict(target: SimulatorTransaction | None, *, now: datetime) -> Verdict:
    if target is None:
        return _error(NOT_FOUND)
    status = status_at(target, now)
    if status is Status.VOIDED:
        return Verdict(Outcome.APPROVED, ALREADY_VOIDED, already_done=True)
    if status not in VOIDABLE_STATUSES:
        return _error(NOT_FOUND)  # settled, declined or expired: nothing left to void
    return _GO


def refund_verdict(
    target: SimulatorTransaction | None,
    *,
    amount: int,
    currency: str,
    card_last4: str,
    already_refunded: int,
    refund_window: timedelta,
    now: datetime,
) -> Verdict:
    if target is None:
        return _error(NOT_FOUND)
    if amount <= 0:
        return _error(INVALID_AMOUNT)
    if target.kind == Kind.REFUND:
        return _error(REFUND_CRITERIA)
    if currency != target.currency:
        return _error(CURRENCY_NOT_ACCEPTED)
    if Status(target.status) is not Status.SETTLED_SUCCESSFULLY:
        return _error(REFUND_CRITERIA)  # unsettled: void instead
    if card_last4 != target.card_last4:
        return _error(REFUND_CRITERIA)
    if target.settled_at is not None and now > target.settled_at + refund_window:
        return _error(REFUND_CRITERIA)
    if already_refunded + amount > target.settle_amount:
        return _error(REFUNDS_EXCEED_ORIGINAL)
    return _GO
