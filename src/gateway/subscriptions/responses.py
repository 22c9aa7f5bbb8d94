"""What subscriptions and invoices look like on the wire, and which answer a new
subscription's state gives (its first replayed request included)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from gateway.idempotency.store import StoredResponse
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.schemas import AttemptOut, InvoiceOut, SubscriptionOut
from gateway.subscriptions.service import SubscriptionService
from gateway.subscriptions.states import SubscriptionStatus
from gateway.vault.schemas import CustomerOut


def subscription_out(subscription: Subscription, service: SubscriptionService) -> SubscriptionOut:
    return SubscriptionOut(
        id=subscription.id,
        livemode=subscription.livemode,
        status=subscription.status,
        customer=CustomerOut(
            id=subscription.customer_id, email=service.customer_email(subscription)
        ),
        plan_id=subscription.plan_id,
        payment_method=subscription.payment_method_id,
        amount=subscription.amount,
        currency=subscription.currency,
        interval=subscription.interval,
        interval_count=subscription.interval_count,
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        next_billing_at=subscription.next_billing_at,
        trial_end=subscription.trial_end,
        cycles_billed=subscription.cycles_billed,
        total_cycles=subscription.total_cycles,
        cancel_at_period_end=subscription.cancel_at_period_end,
        canceled_at=subscription.canceled_at,
        failed_attempts=subscription.failed_attempts,
        metadata=dict(subscription.metadata_ or {}),
        test_clock_id=subscription.test_clock_id,
        created_at=subscription.created_at,
    )


def invoice_out(invoice: Invoice, attempts: Sequence[InvoiceAttempt]) -> InvoiceOut:
    return InvoiceOut(
        id=invoice.id,
        subscription_id=invoice.subscription_id,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        amount=invoice.amount,
        currency=invoice.currency,
        status=invoice.status,
        attempts=[
            AttemptOut(
                id=attempt.id,
                transaction_id=attempt.transaction_id,
                status=attempt.status,
                decline_code=attempt.decline_code,
                attempted_at=attempt.attempted_at,
                next_attempt_at=attempt.next_attempt_at,
            )
            for attempt in attempts
        ],
    )


def invoices_out(
    invoices: Sequence[Invoice], attempts: Mapping[str, list[InvoiceAttempt]]
) -> list[InvoiceOut]:
    return [invoice_out(invoice, attempts.get(invoice.id, [])) for invoice in invoices]


def created(subscription: Subscription, service: SubscriptionService) -> StoredResponse:
    """201, or 202 while its first charge's outcome is unknown (a replay rebuilds
    this from the subscription's state then)."""
    status = 202 if subscription.status == SubscriptionStatus.INCOMPLETE else 201
    return StoredResponse(status, msgspec.json.encode(subscription_out(subscription, service)))
