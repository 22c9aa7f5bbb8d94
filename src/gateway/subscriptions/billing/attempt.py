"""One charge attempt of an invoice, in the phases of DESIGN.md invariant 4.

Phase 1 writes the `txn_` purchase (through payments' stored-card entry point,
so a renewal is exactly a token purchase, whose id is the reference sent to the
processor) with its `subscription_id` and `invoice_id` from the start, and the
`pending` attempt. Phase 2 calls the processor with no session open. Phase 3 writes the
purchase's outcome and, in the same transaction, what it makes of the invoice
and the subscription. A worker that dies between the phases leaves the attempt
pending: nothing tries again until reconciliation has resolved its purchase.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.settings import BillingSettings, PaymentSettings
from gateway.core.tenancy import Owner
from gateway.payments.models import Transaction
from gateway.payments.operations import (
    ChargeOperation,
    Context,
    Links,
    Reserved,
    StoredCardCharge,
    stored_card_purchase,
)
from gateway.processors.resilient import ResilientProcessor
from gateway.subscriptions.billing.dunning import DunningPolicy, Verdict
from gateway.subscriptions.billing.outcomes import OutcomeRecorder
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.repository import SubscriptionRepository
from gateway.subscriptions.service import SubscriptionService
from gateway.subscriptions.states import AttemptStatus

BILLING_ACTOR = Actor(kind="billing")


@dataclass
class StartedAttempt:
    """What phase 1 hands to phases 2 and 3 (in memory only)."""

    owner: Owner
    subscription_id: str
    invoice_id: str
    attempt_id: str
    operation: ChargeOperation
    reserved: Reserved
    retry: bool = False  # a dunning retry (an attempt of the period failed before)

    @property
    def transaction_id(self) -> str:
        return self.reserved.object_id


def dunning_policy(settings: BillingSettings) -> DunningPolicy:
    return DunningPolicy(
        schedule_days=settings.dunning_schedule_days, final_action=settings.dunning_final_action
    )


def outcome_recorder(
    service: SubscriptionService, crypto: FieldCrypto, billing: BillingSettings
) -> OutcomeRecorder:
    """The dunning rules of the settings, with the deployment's keyed jitter."""
    return OutcomeRecorder(
        service,
        dunning_policy(billing),
        lambda text: crypto.fingerprints.digest("dunning-jitter", text),
    )


class AttemptCharges:
    """Starting (phase 1) and finishing (phase 3) attempts, for one processor."""

    def __init__(
        self,
        *,
        clock: Clock,
        crypto: FieldCrypto,
        processor: ResilientProcessor,
        payments: PaymentSettings,
        billing: BillingSettings,
        actor: Actor = BILLING_ACTOR,
    ) -> None:
        self.clock = clock
        self.crypto = crypto
        self.processor = processor
        self.payments = payments
        self.billing = billing
        self.actor = actor

    def recorder(self, service: SubscriptionService) -> OutcomeRecorder:
        return outcome_recorder(service, self.crypto, self.billing)

    def _context(self, owner: Owner, max_amount: int) -> Context:
        return Context(
            owner=owner,
            actor=self.actor,
            processor=self.processor,
            crypto=self.crypto,
            max_amount=max_amount,
            auth_expiry_days=self.payments.auth_expiry_days,
            refund_window_days=self.payments.refund_window_days,
        )

    async def start(
        self,
        session: AsyncSession,
        service: SubscriptionService,
        subscription: Subscription,
        invoice: Invoice,
        *,
        max_amount: int,
        number: int | None = None,
    ) -> StartedAttempt:
        """Phase 1, in the caller's transaction. Raises the GatewayError of a charge
        that cannot start (its payment method is gone), writing nothing. `number`:
        the attempt's, when the caller read it under the invoice's lock already."""
        owner = Owner(subscription.merchant_id, subscription.livemode)
        charge = StoredCardCharge(
            payment_method_id=subscription.payment_method_id,
            amount=invoice.amount,
            currency=invoice.currency,
            links=Links(
                subscription_id=subscription.id,
                invoice_id=invoice.id,
                test_clock_id=subscription.test_clock_id,
            ),
            order_id=invoice.id,
            description=(
                f"Subscription {subscription.id}, {invoice.period_start:%Y-%m-%d}"
                f" to {invoice.period_end:%Y-%m-%d}"
            ),
            customer_id=subscription.customer_id,
            customer_email=service.customer_email(subscription),
        )
        operation = stored_card_purchase(charge, self._context(owner, max_amount), self.clock)
        # No savepoint of its own: the money runner rolls phase 1 back on a refusal.
        reserved = await operation.reserve(session)
        attempt = InvoiceAttempt(
            id=new_id("att"),
            merchant_id=invoice.merchant_id,
            invoice_id=invoice.id,
            number=number or await SubscriptionRepository(session).next_attempt_number(invoice.id),
            transaction_id=reserved.object_id,
            status=AttemptStatus.PENDING,
            attempted_at=self.clock.now(),
        )
        await SubscriptionRepository(session).add(attempt)
        return StartedAttempt(
            owner=owner,
            subscription_id=subscription.id,
            invoice_id=invoice.id,
            attempt_id=attempt.id,
            operation=operation,
            reserved=reserved,
            retry=subscription.failed_attempts > 0,
        )

    async def admit(self, started: StartedAttempt) -> None:
        """Phase 1's last step: the breaker's permit for the call."""
        await started.operation.admit(started.reserved)

    async def call(self, started: StartedAttempt) -> None:
        """Phase 2: no session open."""
        await started.operation.call(started.reserved)

    async def finalize_purchase(
        self, session: AsyncSession, started: StartedAttempt
    ) -> Transaction:
        """Phase 3's first half: the purchase's outcome, as the payments API writes it."""
        await started.operation.finalize(session, started.reserved)
        # The purchase finalize just locked and wrote, read by primary key (from the
        # identity map while finalize's copy is still held): a purchase phase 1
        # wrote for `owner`, so no owner filter is needed beyond this check.
        transaction = await session.get(Transaction, started.transaction_id)
        if transaction is None or transaction.merchant_id != started.owner.merchant_id:
            raise LookupError(f"the purchase {started.transaction_id} is gone")
        return transaction

    async def record(
        self, session: AsyncSession, started: StartedAttempt, transaction: Transaction
    ) -> Verdict:
        """Phase 3's second half: the outcome on the attempt, invoice and subscription."""
        service = SubscriptionService(session, self.clock, self.crypto)
        subscription, invoice, attempt = await service.subscriptions.lock_attempt(
            started.subscription_id, started.invoice_id, transaction.id
        )
        return await self.recorder(service).record(
            subscription, invoice, attempt, transaction, self.actor
        )

    async def unchargeable(
        self,
        service: SubscriptionService,
        subscription: Subscription,
        invoice: Invoice,
        reason: str,
    ) -> Verdict:
        """An attempt with nothing to send (its payment method is gone): it fails and
        counts, so the subscription goes `past_due` and the merchant can fix it."""
        attempt = InvoiceAttempt(
            id=new_id("att"),
            merchant_id=invoice.merchant_id,
            invoice_id=invoice.id,
            number=await service.subscriptions.next_attempt_number(invoice.id),
            transaction_id=None,
            status=AttemptStatus.FAILED,
            reason=reason,
            attempted_at=self.clock.now(),
        )
        await service.subscriptions.add(attempt)
        return await self.recorder(service).failed(subscription, invoice, attempt, self.actor)
