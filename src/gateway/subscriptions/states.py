"""Subscription, invoice and attempt vocabulary, and one transition table each.

A move to the same status is allowed where it is an event worth recording: a
renewal (`active` → `active`), another failed retry (`past_due` → `past_due`), an
invoice requested again after a postponement (`open` → `open`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from gateway.core.errors import InvalidState


class SubscriptionStatus(StrEnum):
    INCOMPLETE = "incomplete"  # its first charge's outcome is unknown
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELED = "canceled"
    EXPIRED = "expired"


class CancellationReason(StrEnum):
    """Why a subscription was canceled, where its events' reasons do not suffice."""

    # Its first charge was declined or failed: for clients it was never created
    # (API.md "Creation"), so the API never shows it and its events are never sent.
    CREATION_FAILED = "creation_failed"


class SubscriptionOccasion(StrEnum):
    """What happened to a subscription that its status does not say (`Event.occasion`
    of an event whose status stays): a renewal's invoice paid, a renewal attempt
    failed. The event's `related_id` is the invoice."""

    RENEWED = "renewed"
    PAYMENT_FAILED = "payment_failed"


class InvoiceStatus(StrEnum):
    OPEN = "open"  # an attempt is due or running
    PAID = "paid"
    PAST_DUE = "past_due"  # an attempt failed; the next one is scheduled
    UNCOLLECTIBLE = "uncollectible"  # dunning gave up
    VOID = "void"  # the subscription ended before it was paid


class AttemptStatus(StrEnum):
    PENDING = "pending"  # sent, outcome not known yet
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    FAILED = "failed"  # a processor error, or nothing to charge (payment method gone)
    POSTPONED = "postponed"  # never reached the processor: not counted


_S = SubscriptionStatus
SUBSCRIPTION_TRANSITIONS: Final[Mapping[SubscriptionStatus, frozenset[SubscriptionStatus]]] = (
    MappingProxyType(
        {
            _S.INCOMPLETE: frozenset({_S.ACTIVE, _S.CANCELED}),
            _S.TRIALING: frozenset({_S.ACTIVE, _S.PAST_DUE, _S.PAUSED, _S.CANCELED}),
            _S.ACTIVE: frozenset({_S.ACTIVE, _S.PAST_DUE, _S.PAUSED, _S.CANCELED, _S.EXPIRED}),
            _S.PAST_DUE: frozenset({_S.ACTIVE, _S.PAST_DUE, _S.PAUSED, _S.CANCELED}),
            _S.PAUSED: frozenset({_S.TRIALING, _S.ACTIVE, _S.PAST_DUE, _S.CANCELED}),
            _S.CANCELED: frozenset(),
            _S.EXPIRED: frozenset(),
        }
    )
)

_I = InvoiceStatus
INVOICE_TRANSITIONS: Final[Mapping[InvoiceStatus, frozenset[InvoiceStatus]]] = MappingProxyType(
    {
        _I.OPEN: frozenset({_I.OPEN, _I.PAID, _I.PAST_DUE, _I.UNCOLLECTIBLE, _I.VOID}),
        _I.PAST_DUE: frozenset({_I.OPEN, _I.VOID, _I.UNCOLLECTIBLE}),
        # An attempt still in flight when the subscription ended may yet succeed:
        # the money moved, and the invoice says so.
        _I.VOID: frozenset({_I.PAID}),
        _I.UNCOLLECTIBLE: frozenset(),
        _I.PAID: frozenset(),
    }
)

# Invoices still waiting for money.
UNPAID: Final = frozenset({InvoiceStatus.OPEN, InvoiceStatus.PAST_DUE})
# Subscriptions whose periods the billing tick moves on.
SCHEDULED: Final = frozenset({_S.TRIALING, _S.ACTIVE, _S.PAUSED})
# Subscriptions whose unpaid invoice may be charged.
COLLECTING: Final = frozenset({_S.INCOMPLETE, _S.TRIALING, _S.ACTIVE, _S.PAST_DUE})
ENDED: Final = frozenset({_S.CANCELED, _S.EXPIRED})


class InvalidSubscriptionState(InvalidState):
    """409 `invalid_state` about a subscription."""


def ensure_subscription_move(
    current: SubscriptionStatus, target: SubscriptionStatus, *, subscription_id: str
) -> None:
    if target not in SUBSCRIPTION_TRANSITIONS[current]:
        raise InvalidSubscriptionState(f"{subscription_id} is {current}: it cannot become {target}")


def ensure_invoice_move(current: InvoiceStatus, target: InvoiceStatus, *, invoice_id: str) -> None:
    if target not in INVOICE_TRANSITIONS[current]:
        # Corrupt data or a bug, never a client's request: invoices move only by billing.
        raise ValueError(f"{invoice_id} cannot go from {current} to {target}")
