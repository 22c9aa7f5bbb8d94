"""SubscriptionService's named changes, without HTTP: each writes what it says,
and every status move states when billing acts next."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.merchants.models import Merchant
from gateway.subscriptions.models import Invoice, Subscription
from gateway.subscriptions.service import SubscriptionEdit, SubscriptionService
from gateway.subscriptions.states import InvoiceStatus, SubscriptionStatus

ACTOR = Actor(kind="billing")


@pytest.fixture
def service(
    db_session: AsyncSession, clock: FrozenClock, field_crypto: FieldCrypto
) -> SubscriptionService:
    return SubscriptionService(db_session, clock, field_crypto)


def _subscription(
    merchant: Merchant, clock: FrozenClock, status: SubscriptionStatus
) -> Subscription:
    now = clock.now()
    return Subscription(
        id="sub_0000000000000001",
        merchant_id=merchant.id,
        livemode=False,
        status=status,
        amount=2500,
        currency="USD",
        current_period_start=now - timedelta(days=30),
        current_period_end=now,
        next_billing_at=now,
        cycles_billed=3,
        failed_attempts=2,
        cancel_at_period_end=False,
        plan_id="gold",
        metadata_={"a": "1"},
    )


def _invoice(merchant: Merchant, clock: FrozenClock, status: InvoiceStatus) -> Invoice:
    now = clock.now()
    return Invoice(
        id="inv_0000000000000001",
        merchant_id=merchant.id,
        livemode=False,
        subscription_id="sub_0000000000000001",
        period_start=now,
        period_end=now + timedelta(days=30),
        amount=2500,
        currency="USD",
        status=status,
        next_attempt_at=now,
    )


def test_an_edit_names_only_the_terms_it_changes() -> None:
    assert SubscriptionEdit().changed() == []
    edit = SubscriptionEdit(metadata={}, amount=10, payment_method_id="pm_1")
    assert edit.changed() == ["amount", "metadata", "payment_method_id"]


def test_an_edit_leaves_the_terms_it_does_not_name(
    service: SubscriptionService, merchant: Merchant, clock: FrozenClock
) -> None:
    subscription = _subscription(merchant, clock, SubscriptionStatus.ACTIVE)
    service.edit(subscription, SubscriptionEdit(amount=3000, metadata={"b": "2"}))
    assert (subscription.amount, subscription.metadata_) == (3000, {"b": "2"})
    assert subscription.plan_id == "gold"
    assert subscription.updated_at == clock.now()


def test_a_paid_period_becomes_current_and_forgets_the_failures(
    service: SubscriptionService, merchant: Merchant, clock: FrozenClock
) -> None:
    subscription = _subscription(merchant, clock, SubscriptionStatus.PAST_DUE)
    invoice = _invoice(merchant, clock, InvoiceStatus.PAST_DUE)
    service.enter_period(subscription, invoice)
    assert (subscription.current_period_start, subscription.current_period_end) == (
        invoice.period_start,
        invoice.period_end,
    )
    assert (subscription.cycles_billed, subscription.failed_attempts) == (4, 0)


async def test_a_cancel_ends_billing_and_records_when(
    service: SubscriptionService, merchant: Merchant, clock: FrozenClock
) -> None:
    subscription = _subscription(merchant, clock, SubscriptionStatus.ACTIVE)
    await service.cancel(subscription, ACTOR, reason="canceled by the merchant")
    assert subscription.status == SubscriptionStatus.CANCELED
    assert (subscription.canceled_at, subscription.next_billing_at) == (clock.now(), None)


async def test_a_paid_invoice_records_when_and_is_never_charged_again(
    service: SubscriptionService, merchant: Merchant, clock: FrozenClock
) -> None:
    invoice = _invoice(merchant, clock, InvoiceStatus.OPEN)
    await service.pay_invoice(invoice, ACTOR, reason=None)
    assert invoice.status == InvoiceStatus.PAID
    assert (invoice.paid_at, invoice.next_attempt_at) == (clock.now(), None)


async def test_each_move_states_when_billing_acts_next(
    service: SubscriptionService, merchant: Merchant, clock: FrozenClock
) -> None:
    subscription = _subscription(merchant, clock, SubscriptionStatus.ACTIVE)
    retry_at = clock.now() + timedelta(days=1)
    await service.move(
        subscription, SubscriptionStatus.PAST_DUE, ACTOR, reason="payment failed",
        next_billing_at=retry_at,
    )  # fmt: skip
    service.record_failures(subscription, 3)
    assert (subscription.status, subscription.next_billing_at) == (
        SubscriptionStatus.PAST_DUE,
        retry_at,
    )
    assert subscription.failed_attempts == 3
    invoice = _invoice(merchant, clock, InvoiceStatus.OPEN)
    await service.move_invoice(
        invoice, InvoiceStatus.PAST_DUE, ACTOR, reason="attempt 1 failed", next_attempt_at=retry_at
    )
    assert (invoice.status, invoice.next_attempt_at) == (InvoiceStatus.PAST_DUE, retry_at)
    service.schedule_attempt(invoice, None)
    service.schedule_billing(subscription, None)
    service.cancel_at_period_end(subscription)
    assert (invoice.next_attempt_at, subscription.next_billing_at) == (None, None)
    assert subscription.cancel_at_period_end is True
