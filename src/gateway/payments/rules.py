"""The amount rules of API.md "Payments", as pure functions over snapshots.

No database, no clock: the service reads a `ParentState` and the parent's
`InFlight` children under its row lock, passes the clock's `now`, and gets back
either the plan to carry out or the domain error to answer. `plan_*` decide
whether an operation may start (phase 1); `apply_*` give the parent after a
child's success (phase 3) and check the move against the transition table.

Order of checks: every state rule (409 `invalid_state`) before any amount rule
(422), as API.md requires when both fail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from gateway.core.errors import ValidationFailed
from gateway.payments.errors import (
    AmountExceedsCapturable,
    AmountExceedsRefundable,
    InvalidTransition,
)
from gateway.payments.states import (
    ParentStatus,
    TransactionType,
    ensure_transition,
    is_parent,
)

_REFUNDABLE = frozenset({ParentStatus.CAPTURED, ParentStatus.PARTIALLY_REFUNDED})


def _is_int(value: object) -> bool:
    # Type hints do not stop untyped callers: a float or a bool must fail loudly
    # rather than become money (`True` is an int to Python).
    return isinstance(value, int) and not isinstance(value, bool)


def _require_count(value: int, name: str, *, minimum: int = 0) -> None:
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


@dataclass(frozen=True, slots=True)
class ParentState:
    """What the rules need of a purchase or an authorization. Amounts in minor units."""

    id: str
    type: TransactionType
    status: ParentStatus
    amount: int
    amount_captured: int
    amount_refunded: int
    settled_at: datetime | None
    expires_at: datetime | None

    def __post_init__(self) -> None:
        # A snapshot breaking these is corrupt data: fail before any rule trusts it.
        if not is_parent(self.type):
            raise ValueError(f"a {self.type} is not a parent transaction")
        _require_count(self.amount, "amount", minimum=1)
        _require_count(self.amount_captured, "amount_captured")
        _require_count(self.amount_refunded, "amount_refunded")
        if not self.amount_refunded <= self.amount_captured <= self.amount:
            raise ValueError(
                f"{self.id}: refunded {self.amount_refunded} ≤ captured "
                f"{self.amount_captured} ≤ amount {self.amount} does not hold"
            )


@dataclass(frozen=True, slots=True)
class InFlight:
    """The parent's children still `pending`: reservations no rule may overlook.

    `refund_amount` is the sum of the pending refunds (including a full refund
    being carried out as a void); `void` is a cancel in flight.
    """

    capture: bool = False
    refund_amount: int = 0
    void: bool = False

    def __post_init__(self) -> None:
        _require_count(self.refund_amount, "refund_amount")

    @property
    def any(self) -> bool:
        return self.capture or self.void or self.refund_amount > 0


@dataclass(frozen=True, slots=True)
class RefundPlan:
    amount: int
    # Before settlement a full refund is a void at the processor (it refuses to
    # refund unsettled money, ANET.md reason 54); the client still sees a refund.
    as_void: bool


def _invalid(parent: ParentState, why: str) -> InvalidTransition:
    return InvalidTransition(f"{parent.id} {why}", transaction_id=parent.id)


def _requested(amount: int | None, default: int) -> int:
    if amount is None:
        return default
    if not _is_int(amount) or amount < 1:
        # The wire refuses these already (`Amount`); this guards internal callers.
        raise ValidationFailed.for_field("amount", "must be a positive integer")
    return amount


def is_expired(parent: ParentState, now: datetime) -> bool:
    """An authorization stops being capturable at `expires_at` exactly."""
    return parent.expires_at is not None and now >= parent.expires_at


def refundable(parent: ParentState, in_flight: InFlight) -> int:
    """What may still be refunded: pending refunds reserve their amount."""
    remaining = parent.amount_captured - parent.amount_refunded - in_flight.refund_amount
    if remaining < 0:
        raise ValueError(f"{parent.id}: pending refunds exceed what is left to refund")
    return remaining


def plan_capture(
    parent: ParentState, amount: int | None, *, in_flight: InFlight, now: datetime
) -> int:
    """The amount to capture (default: all authorized), or why not."""
    if parent.type is not TransactionType.AUTHORIZATION:
        raise _invalid(parent, f"is a {parent.type}: only an authorization is captured")
    if parent.status is not ParentStatus.AUTHORIZED:
        raise _invalid(parent, f"is {parent.status}: only an authorized one is captured")
    if in_flight.capture or parent.amount_captured > 0:
        raise _invalid(parent, "is already being captured: an authorization is captured once")
    if in_flight.void:
        raise _invalid(parent, "is being cancelled")
    if is_expired(parent, now):
        raise _invalid(parent, "has expired: an expired authorization cannot be captured")
    requested = _requested(amount, parent.amount)
    if requested > parent.amount:
        raise AmountExceedsCapturable(
            f"{parent.id}: {requested} exceeds the authorized {parent.amount}",
            transaction_id=parent.id,
        )
    return requested


def plan_refund(
    parent: ParentState,
    amount: int | None,
    *,
    in_flight: InFlight,
    now: datetime,
    refund_window_days: int,
) -> RefundPlan:
    """The refund to carry out (default: all refundable), or why not."""
    if parent.status not in _REFUNDABLE:
        raise _invalid(parent, f"is {parent.status}: only a captured charge is refunded")
    if in_flight.void:
        raise _invalid(parent, "is being cancelled")
    if parent.settled_at is None:
        return _plan_refund_before_settlement(parent, amount, in_flight)
    window_end = parent.settled_at + timedelta(days=refund_window_days)
    if now > window_end:
        closed = window_end.date().isoformat()
        raise _invalid(parent, f"can no longer be refunded: the refund window closed {closed}")
    left = refundable(parent, in_flight)
    requested = _requested(amount, left)
    if not 1 <= requested <= left:
        raise _exceeds_refundable(parent, requested, left)
    return RefundPlan(amount=requested, as_void=False)


def _plan_refund_before_settlement(
    parent: ParentState, amount: int | None, in_flight: InFlight
) -> RefundPlan:
    # Only the whole captured amount can be voided; any other amount needs a
    # real refund, which the processor refuses before settlement.
    if amount is not None and amount != parent.amount_captured:
        raise _invalid(parent, "is not settled yet: only a full refund is possible")
    left = refundable(parent, in_flight)
    if left != parent.amount_captured:
        # Another full refund is already in flight: the loser of that race.
        raise _exceeds_refundable(parent, parent.amount_captured, left)
    return RefundPlan(amount=parent.amount_captured, as_void=True)


def _exceeds_refundable(parent: ParentState, requested: int, left: int) -> AmountExceedsRefundable:
    why = f"{requested} exceeds the {left} left to refund" if left else "nothing is left to refund"
    return AmountExceedsRefundable(f"{parent.id}: {why}", transaction_id=parent.id)


def plan_cancel(parent: ParentState, *, in_flight: InFlight) -> None:
    """Cancel only an authorization, or a purchase or capture not yet settled."""
    if parent.status is ParentStatus.CAPTURED and parent.settled_at is not None:
        raise _invalid(parent, "is settled: refund it instead")
    if parent.status not in {ParentStatus.AUTHORIZED, ParentStatus.CAPTURED}:
        raise _invalid(parent, f"is {parent.status}: it cannot be cancelled")
    if in_flight.any:
        raise _invalid(parent, "has a capture, refund or cancel in flight")


def parent_status_after_refund(parent: ParentState, refund_amount: int) -> ParentStatus:
    """The parent's status once a refund of `refund_amount` succeeds."""
    total = parent.amount_refunded + refund_amount
    if total > parent.amount_captured:
        raise ValueError(f"{parent.id}: refunds of {total} exceed the {parent.amount_captured}")
    if total == parent.amount_captured:
        return ParentStatus.REFUNDED
    return ParentStatus.PARTIALLY_REFUNDED


def _moved(
    parent: ParentState,
    status: ParentStatus,
    *,
    captured: int | None = None,
    refunded: int | None = None,
) -> ParentState:
    ensure_transition(parent.type, parent.status, status, transaction_id=parent.id)
    return replace(
        parent,
        status=status,
        amount_captured=parent.amount_captured if captured is None else captured,
        amount_refunded=parent.amount_refunded if refunded is None else refunded,
    )


# Moves that leave every amount as it was; the others have their own `apply_*`.
_NO_MONEY_MOVED = frozenset(
    {ParentStatus.DECLINED, ParentStatus.FAILED, ParentStatus.REQUIRES_REVIEW}
)


def apply_status(parent: ParentState, status: ParentStatus) -> ParentState:
    """The parent after a decline, a failure or a referral to a person."""
    if status not in _NO_MONEY_MOVED:
        raise ValueError(f"{status} changes amounts: use its own apply_* function")
    return _moved(parent, status)


def apply_approval(parent: ParentState) -> ParentState:
    """The parent once the processor approved it: a purchase is captured in full."""
    if parent.type is TransactionType.PURCHASE:
        return _moved(parent, ParentStatus.CAPTURED, captured=parent.amount)
    return _moved(parent, ParentStatus.AUTHORIZED)


def apply_capture(parent: ParentState, amount: int) -> ParentState:
    """The authorization once its capture of `amount` succeeded."""
    _require_count(amount, "amount", minimum=1)
    return _moved(parent, ParentStatus.CAPTURED, captured=amount)


def apply_refund(parent: ParentState, amount: int) -> ParentState:
    """The parent once a refund of `amount` succeeded (a void-refund included)."""
    _require_count(amount, "amount", minimum=1)
    return _moved(
        parent,
        parent_status_after_refund(parent, amount),
        refunded=parent.amount_refunded + amount,
    )


def apply_cancel(parent: ParentState) -> ParentState:
    """The parent once its void succeeded. Amounts keep their history: `voided`
    already says that no money moved."""
    return _moved(parent, ParentStatus.VOIDED)


def apply_expiry(parent: ParentState, *, in_flight: InFlight, now: datetime) -> ParentState:
    """An authorization past `expires_at`, unless a capture or cancel still runs
    (its outcome decides instead)."""
    if not is_expired(parent, now):
        raise _invalid(parent, "has not expired")
    if in_flight.any:
        raise _invalid(parent, "has a capture or cancel in flight")
    return _moved(parent, ParentStatus.EXPIRED)


def apply_settlement(parent: ParentState, *, at: datetime) -> ParentState:
    """The processor settled the captured money: from now on refunds are real refunds."""
    if parent.status is not ParentStatus.CAPTURED or parent.settled_at is not None:
        raise _invalid(parent, f"is {parent.status}: nothing to settle")
    return replace(parent, settled_at=at)
