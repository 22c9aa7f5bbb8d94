"""POST /subscriptions under the money runner (API.md "Subscriptions", "Creation").

With a trial or a future start nothing is charged: the subscription is written
`trialing` or `active` and answered 201. Starting now, the first period is
charged during the request: phase 1 writes the subscription (`incomplete`), its
first invoice, the pending attempt and its purchase; phase 2 charges the token;
phase 3 makes it `active` (201), or keeps it `incomplete` while the outcome is
unknown (202; reconciliation decides, the billing tick follows), or, declined or
failed: no subscription was created, and the client gets the purchase's own
answer (402, 502, or 503 with the key released).

"No subscription created" holds for clients without deleting anything (event
rows are never deleted; `sequence` only goes up): the subscription goes
`incomplete` → `canceled` with reason `creation_failed`, its invoice `void`;
the API never shows it, the purchase is answered unlinked, and the events of
both are suppressed. Until phase 3, every event phase 1 wrote is held under the
first charge's id, so nothing of the subscription is relayed before its fate is
known (DESIGN.md "Events, outbox and background work").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import ValidationFailed
from gateway.core.ids import new_id
from gateway.core.money import exponent
from gateway.core.settings import BillingSettings, PaymentSettings
from gateway.core.tenancy import Owner
from gateway.idempotency.store import StoredResponse
from gateway.payments.models import Transaction
from gateway.payments.responses import response_for
from gateway.payments.service import TransactionService
from gateway.payments.states import ParentStatus
from gateway.processors.resilient import ResilientProcessor
from gateway.subscriptions.billing.attempt import AttemptCharges, StartedAttempt
from gateway.subscriptions.billing.outcomes import is_approved
from gateway.subscriptions.billing.schedule import MAX_COUNT, Interval, Schedule, trial_end, utc
from gateway.subscriptions.clocks.service import TestClockService
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.responses import created
from gateway.subscriptions.schemas import NewSubscription
from gateway.subscriptions.service import SubscriptionService
from gateway.subscriptions.states import (
    AttemptStatus,
    CancellationReason,
    InvoiceStatus,
    SubscriptionStatus,
)
from gateway.vault.service import PaymentMethodService


@dataclass
class CreationReserved:
    object_id: str  # the subscription
    started: StartedAttempt | None = None  # None: nothing is charged now


@dataclass(frozen=True)
class _Plan:
    """Where a new subscription starts: its status, anchor and first dates."""

    status: SubscriptionStatus
    anchor: datetime
    period_end: datetime  # of the trial, the wait for the start, or the first period
    trial_end: datetime | None
    next_billing_at: datetime | None


def plan_start(body: NewSubscription, now: datetime) -> _Plan:
    interval = Interval(body.interval)
    if body.interval_count > MAX_COUNT[interval]:
        raise ValidationFailed.for_field(
            "interval_count", f"at most {MAX_COUNT[interval]} for a {interval} interval (a year)"
        )
    start = now
    if body.start_date is not None:
        start = utc(body.start_date)
        if start < now:
            raise ValidationFailed.for_field("start_date", "must not be in the past")
    if body.trial_days is not None:
        ends = trial_end(start, body.trial_days)
        return _Plan(SubscriptionStatus.TRIALING, ends, ends, ends, ends)
    if start > now:
        return _Plan(SubscriptionStatus.ACTIVE, start, start, None, start)
    first_end = Schedule(now, interval, body.interval_count).boundary(1)
    # Charged during the request: billing is scheduled once the first period is paid.
    return _Plan(SubscriptionStatus.INCOMPLETE, now, first_end, None, None)


class CreateSubscriptionOperation:
    def __init__(
        self,
        body: NewSubscription,
        *,
        owner: Owner,
        actor: Actor,
        processor: ResilientProcessor,
        crypto: FieldCrypto,
        clock: Clock,
        payments: PaymentSettings,
        billing: BillingSettings,
        max_amount: int,
        production: bool = False,
    ) -> None:
        self.body = body
        self.owner = owner
        self.actor = actor
        self.processor = processor
        self.crypto = crypto
        self.clock = clock
        self.max_amount = max_amount
        self.production = production
        self.charges = AttemptCharges(
            clock=clock,
            crypto=crypto,
            processor=processor,
            payments=payments,
            billing=billing,
            actor=actor,
        )

    async def admit(self, reserved: CreationReserved) -> None:
        # Only a first charge now needs the processor; a trial starts whatever its state.
        if reserved.started is not None:
            await self.charges.admit(reserved.started)

    def _check(self) -> None:
        body = self.body
        exponent(body.currency)  # an unsupported currency is a 400
        if body.amount > self.max_amount:
            raise ValidationFailed.for_field(
                "amount", f"at most {self.max_amount} for this merchant"
            )

    async def _on_test_clock(self, session: AsyncSession, clock_id: str) -> None:
        """From here on, "now" is the test clock's, for this subscription's dates and
        its first charge alike."""
        clocks = TestClockService(session, self.clock, production=self.production)
        self.clock = await clocks.for_new_subscription(self.owner, clock_id)
        self.charges.clock = self.clock

    async def reserve(self, session: AsyncSession) -> CreationReserved:
        body = self.body
        if body.test_clock_id is not None:
            TestClockService(session, self.clock, production=self.production).allow(self.owner)
        self._check()
        if body.test_clock_id is not None:
            await self._on_test_clock(session, body.test_clock_id)
        now = self.clock.now()
        plan = plan_start(body, now)
        vault = PaymentMethodService(session, self.clock, self.crypto)
        method = await vault.get(self.owner, body.payment_method.token)
        service = SubscriptionService(session, self.clock, self.crypto)
        subscription = Subscription(
            id=new_id("sub"),
            merchant_id=self.owner.merchant_id,
            livemode=self.owner.livemode,
            status=plan.status,
            customer_id=body.customer.id,
            plan_id=body.plan_id,
            payment_method_id=method.id,
            amount=body.amount,
            currency=body.currency,
            interval=str(body.interval),
            interval_count=body.interval_count,
            billing_anchor=plan.anchor,
            current_period_start=now,
            current_period_end=plan.period_end,
            next_billing_at=plan.next_billing_at,
            trial_end=plan.trial_end,
            cycles_billed=0,
            total_cycles=body.total_cycles,
            cancel_at_period_end=False,
            failed_attempts=0,
            metadata_=dict(body.metadata or {}),
            test_clock_id=body.test_clock_id,
        )
        service.seal_email(subscription, body.customer.email)
        await service.open(
            subscription,
            self.actor,
            {"amount": body.amount, "currency": body.currency, "interval": str(body.interval)},
        )
        if plan.status is not SubscriptionStatus.INCOMPLETE:
            return CreationReserved(object_id=subscription.id)
        invoice = await service.open_invoice(
            Invoice(
                id=new_id("inv"),
                merchant_id=subscription.merchant_id,
                livemode=subscription.livemode,
                subscription_id=subscription.id,
                period_start=now,
                period_end=plan.period_end,
                amount=subscription.amount,
                currency=subscription.currency,
                status=InvoiceStatus.OPEN,
                next_attempt_at=None,  # charged by this request, never by the tick
            ),
            self.actor,
            reason="first period",
        )
        assert invoice is not None  # a new subscription has no invoice yet
        started = await self.charges.start(
            session, service, subscription, invoice, max_amount=self.max_amount
        )
        # Written before the charge existed: held now, released with the charge's own.
        await service.history.hold_objects(
            [subscription.id, invoice.id], movement_id=started.transaction_id
        )
        return CreationReserved(object_id=subscription.id, started=started)

    async def call(self, reserved: CreationReserved) -> None:
        if reserved.started is not None:
            await self.charges.call(reserved.started)

    async def finalize(self, session: AsyncSession, reserved: CreationReserved) -> StoredResponse:
        service = SubscriptionService(session, self.clock, self.crypto)
        started = reserved.started
        if started is None:
            return created(await service.get(self.owner, reserved.object_id), service)
        transaction = await self.charges.finalize_purchase(session, started)
        if is_approved(transaction) or transaction.status == "pending":
            await self.charges.record(session, started, transaction)
            return created(await service.get(self.owner, reserved.object_id), service)
        # Declined or failed: for clients the subscription never came to be.
        subscription, invoice, attempt = await service.subscriptions.lock_attempt(
            started.subscription_id, started.invoice_id, transaction.id
        )
        await TransactionService(session, self.clock).link_to_invoice(
            transaction, subscription_id=None, invoice_id=None
        )
        await self._abandon(service, subscription, invoice, attempt, transaction)
        return response_for(transaction, self.crypto)

    async def _abandon(
        self,
        service: SubscriptionService,
        subscription: Subscription,
        invoice: Invoice,
        attempt: InvoiceAttempt,
        transaction: Transaction,
    ) -> None:
        """End what phase 1 wrote, keeping every row: the attempt says what the
        charge met, the invoice is void, the subscription canceled for good."""
        declined = transaction.status == ParentStatus.DECLINED
        attempt.status = AttemptStatus.DECLINED if declined else AttemptStatus.FAILED
        attempt.decline_code = transaction.decline_code
        attempt.reason = transaction.decline_reason
        reason = CancellationReason.CREATION_FAILED
        await service.move_invoice(
            invoice, InvoiceStatus.VOID, self.actor, reason=reason, next_attempt_at=None
        )
        await service.cancel(subscription, self.actor, reason=reason, cancellation=reason)
        await service.history.suppress_objects([subscription.id, invoice.id])
