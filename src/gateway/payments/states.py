"""Transaction vocabulary and the one transition table per kind (API.md "Payments").

A purchase or an authorization is a parent; a capture, refund or void is a child
that moves money of its parent. `PARENT_TRANSITIONS` is the table of both parent
types; what one type may never do is listed beside it and removed by
`parent_transitions`, so there is still one table to read.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from gateway.payments.errors import InvalidTransition


class TransactionType(StrEnum):
    PURCHASE = "purchase"
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    REFUND = "refund"
    VOID = "void"


class ParentStatus(StrEnum):
    """Statuses of a purchase or an authorization."""

    PENDING = "pending"
    DECLINED = "declined"
    FAILED = "failed"
    AUTHORIZED = "authorized"
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"
    EXPIRED = "expired"
    REQUIRES_REVIEW = "requires_review"


class ChildStatus(StrEnum):
    """Statuses of a capture, a refund or a void."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"


class PendingReason(StrEnum):
    UNKNOWN_OUTCOME = "unknown_outcome"
    PROCESSOR_REVIEW = "processor_review"


class FailureKind(StrEnum):
    """Why a transaction ended `declined` or `failed`, as other code may branch on it.

    `decline_reason` stays the processor's (or our) text for clients; this is the
    typed fact behind it, so no caller has to match that text.
    """

    NOT_SENT = "not_sent"  # never reached the processor (breaker open, unreachable)
    DECLINED = "declined"  # the processor declined it
    PROCESSOR_ERROR = "processor_error"  # the processor answered with an error
    # The processor had no record of it long after the call: reconciliation gave up.
    NOT_FOUND_AT_PROCESSOR = "not_found_at_processor"


Status = ParentStatus | ChildStatus

PARENT_TYPES: Final = frozenset({TransactionType.PURCHASE, TransactionType.AUTHORIZATION})
CHILD_TYPES: Final = frozenset(TransactionType) - PARENT_TYPES

_P = ParentStatus
PARENT_TRANSITIONS: Final[Mapping[ParentStatus, frozenset[ParentStatus]]] = MappingProxyType(
    {
        # The processor's answer, or reconciliation's when the answer was lost.
        _P.PENDING: frozenset(
            {_P.AUTHORIZED, _P.CAPTURED, _P.DECLINED, _P.FAILED, _P.REQUIRES_REVIEW}
        ),
        _P.AUTHORIZED: frozenset({_P.CAPTURED, _P.VOIDED, _P.EXPIRED, _P.REQUIRES_REVIEW}),
        # `refunded` straight from `captured`: a full refund, or one carried out as a
        # void before settlement; `voided`: cancelled before settlement.
        _P.CAPTURED: frozenset({_P.PARTIALLY_REFUNDED, _P.REFUNDED, _P.VOIDED, _P.REQUIRES_REVIEW}),
        # Another partial refund is a change worth an event even though the status stays.
        _P.PARTIALLY_REFUNDED: frozenset({_P.PARTIALLY_REFUNDED, _P.REFUNDED, _P.REQUIRES_REVIEW}),
        # A person looked at the processor's truth and records it.
        _P.REQUIRES_REVIEW: frozenset(
            {_P.AUTHORIZED, _P.CAPTURED, _P.VOIDED, _P.REFUNDED, _P.FAILED}
        ),
        _P.DECLINED: frozenset(),
        _P.FAILED: frozenset(),
        _P.VOIDED: frozenset(),
        _P.EXPIRED: frozenset(),
        _P.REFUNDED: frozenset(),
    }
)

# A purchase is captured at once: it is never merely authorized, so it cannot expire.
_STATUSES_NEVER_HELD: Final[Mapping[TransactionType, frozenset[ParentStatus]]] = {
    TransactionType.PURCHASE: frozenset({_P.AUTHORIZED, _P.EXPIRED}),
    TransactionType.AUTHORIZATION: frozenset(),
}
# An authorization becomes `captured` only when a capture child succeeds.
_EDGES_NEVER_TAKEN: Final[
    Mapping[TransactionType, frozenset[tuple[ParentStatus, ParentStatus]]]
] = {
    TransactionType.PURCHASE: frozenset(),
    TransactionType.AUTHORIZATION: frozenset({(_P.PENDING, _P.CAPTURED)}),
}

_C = ChildStatus
CHILD_TRANSITIONS: Final[Mapping[ChildStatus, frozenset[ChildStatus]]] = MappingProxyType(
    {
        _C.PENDING: frozenset({_C.SUCCEEDED, _C.DECLINED, _C.FAILED}),
        _C.SUCCEEDED: frozenset(),
        _C.DECLINED: frozenset(),
        _C.FAILED: frozenset(),
    }
)


def _restricted(type_: TransactionType) -> Mapping[ParentStatus, frozenset[ParentStatus]]:
    never = _STATUSES_NEVER_HELD[type_]
    edges = _EDGES_NEVER_TAKEN[type_]
    return MappingProxyType(
        {
            current: frozenset(
                target
                for target in targets
                if target not in never and (current, target) not in edges
            )
            for current, targets in PARENT_TRANSITIONS.items()
            if current not in never
        }
    )


_PARENT_TABLES: Final = {type_: _restricted(type_) for type_ in PARENT_TYPES}


def is_parent(type_: TransactionType) -> bool:
    return type_ in PARENT_TYPES


def parent_transitions(type_: TransactionType) -> Mapping[ParentStatus, frozenset[ParentStatus]]:
    """The parent table as it applies to `type_`: only the statuses it can hold."""
    try:
        return _PARENT_TABLES[type_]
    except KeyError:
        raise ValueError(f"a {type_} is not a parent transaction") from None


def statuses(type_: TransactionType) -> frozenset[Status]:
    """Every status a transaction of `type_` can hold."""
    table = parent_transitions(type_) if is_parent(type_) else CHILD_TRANSITIONS
    return frozenset(table)


def initial_status(type_: TransactionType) -> Status:
    """Phase 1 writes every transaction `pending`, before the processor is called."""
    return ParentStatus.PENDING if is_parent(type_) else ChildStatus.PENDING


def approved_status(type_: TransactionType) -> Status:
    """The status of a transaction the processor approved."""
    if type_ is TransactionType.PURCHASE:
        return ParentStatus.CAPTURED
    if type_ is TransactionType.AUTHORIZATION:
        return ParentStatus.AUTHORIZED
    return ChildStatus.SUCCEEDED


def failed_status(type_: TransactionType, kind: FailureKind) -> Status:
    """The status a transaction of `type_` ends in for a failure of `kind`."""
    declined = kind is FailureKind.DECLINED
    if is_parent(type_):
        return ParentStatus.DECLINED if declined else ParentStatus.FAILED
    return ChildStatus.DECLINED if declined else ChildStatus.FAILED


def allowed_targets(type_: TransactionType, current: Status) -> frozenset[Status]:
    """Where a transaction of `type_` in `current` may go next.

    A status the type never holds is corrupt data, not a client's mistake:
    ValueError rather than `InvalidTransition`.
    """
    if is_parent(type_):
        table = parent_transitions(type_)
        parent_status = ParentStatus(current)
        if parent_status not in table:
            raise ValueError(f"a {type_} is never {parent_status}")
        return frozenset(table[parent_status])
    return frozenset(CHILD_TRANSITIONS[ChildStatus(current)])


def can_transition(type_: TransactionType, current: Status, target: Status) -> bool:
    # ParentStatus.PENDING == ChildStatus.PENDING (both are the string "pending"), so
    # membership alone would accept the other vocabulary: convert, which refuses it.
    vocabulary = ParentStatus if is_parent(type_) else ChildStatus
    return vocabulary(target) in allowed_targets(type_, current)


def ensure_transition(
    type_: TransactionType,
    current: Status,
    target: Status,
    *,
    transaction_id: str | None = None,
) -> None:
    if not can_transition(type_, current, target):
        raise InvalidTransition(
            f"this {type_} cannot go from {current} to {target}", transaction_id=transaction_id
        )


def is_terminal(type_: TransactionType, status: Status) -> bool:
    return not allowed_targets(type_, status)
