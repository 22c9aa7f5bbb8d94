"""Which outbound event type (API.md "Webhooks / Outbound") a history event is.

Pure: the history event's own columns decide, plus, for a transaction, its type
(events do not carry it; the fan-out looks the batch's types up in one query).
Only a purchase's or an authorization's history is news to merchants: a
capture, refund or void shows as its parent's move (`captured`, `refunded`,
`voided`). An object's opening event is a money movement's phase 1 for a
transaction (the 202, if any, is its own event: `occasion` the pending reason)
and the creation for a subscription. Invoices, payment methods and inbound
webhook events are never sent on their own.
"""

from __future__ import annotations

from typing import Final, Protocol

from gateway.payments.states import PARENT_TYPES, ParentStatus, PendingReason, TransactionType
from gateway.subscriptions.states import SubscriptionOccasion, SubscriptionStatus


class HistoryEvent(Protocol):
    """The columns of `audit.models.Event` the mapping reads."""

    @property
    def object_type(self) -> str: ...
    @property
    def from_status(self) -> str | None: ...
    @property
    def to_status(self) -> str: ...
    @property
    def occasion(self) -> str | None: ...


_PAYMENT_MOVES: Final[dict[str, str]] = {
    ParentStatus.AUTHORIZED: "payment.authorized",
    ParentStatus.CAPTURED: "payment.captured",
    ParentStatus.DECLINED: "payment.declined",
    ParentStatus.FAILED: "payment.failed",
    ParentStatus.PARTIALLY_REFUNDED: "payment.refunded",
    ParentStatus.REFUNDED: "payment.refunded",
    ParentStatus.VOIDED: "payment.voided",
    ParentStatus.EXPIRED: "payment.expired",
    ParentStatus.REQUIRES_REVIEW: "payment.requires_review",
}

# A pending transaction's new reason (`TransactionService.keep_pending`).
_PENDING_REASONS: Final[dict[str, str]] = {
    PendingReason.UNKNOWN_OUTCOME: "payment.pending",
    PendingReason.PROCESSOR_REVIEW: "payment.requires_review",
}

_SUBSCRIPTION_MOVES: Final[dict[str, str]] = {
    SubscriptionStatus.PAST_DUE: "subscription.past_due",
    SubscriptionStatus.PAUSED: "subscription.paused",
    SubscriptionStatus.CANCELED: "subscription.canceled",
    SubscriptionStatus.EXPIRED: "subscription.expired",
}

_SUBSCRIPTION_OCCASIONS: Final[dict[str, str]] = {
    SubscriptionOccasion.RENEWED: "subscription.renewed",
    SubscriptionOccasion.PAYMENT_FAILED: "subscription.payment_failed",
}

# Event types that carry the invoice (`related_id`) beside the object.
WITH_INVOICE: Final = frozenset(_SUBSCRIPTION_OCCASIONS.values())


def event_type_of(event: HistoryEvent, *, transaction_type: str | None = None) -> str | None:
    """The outbound type of `event`, or None when merchants are not told of it.
    `transaction_type`: the transaction's type, for a transaction's event."""
    if event.object_type == "transaction":
        return _payment_type(event, transaction_type)
    if event.object_type == "subscription":
        return _subscription_type(event)
    return None


def _payment_type(event: HistoryEvent, transaction_type: str | None) -> str | None:
    if transaction_type is None or TransactionType(transaction_type) not in PARENT_TYPES:
        return None
    if event.from_status is None:
        return None  # phase 1 of the movement that opened it
    if event.from_status == event.to_status:
        return _PENDING_REASONS.get(event.occasion or "")
    return _PAYMENT_MOVES.get(event.to_status)


def _subscription_type(event: HistoryEvent) -> str | None:
    if event.from_status is None:
        return "subscription.created"
    if event.occasion is not None:
        return _SUBSCRIPTION_OCCASIONS.get(event.occasion)
    if event.from_status == event.to_status:
        return None
    return _SUBSCRIPTION_MOVES.get(event.to_status)
