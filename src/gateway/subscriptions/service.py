"""Reading and changing subscriptions and invoices inside the caller's session.

Every status change goes through `move` or `move_invoice`, which check the
transition table and append the event in the same transaction (DESIGN.md
invariant 7). No HTTP, no commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import NotFound
from gateway.core.tenancy import Owner
from gateway.subscriptions.billing.schedule import Interval, Schedule
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.repository import SubscriptionFilters, SubscriptionRepository
from gateway.subscriptions.states import (
    CancellationReason,
    InvoiceStatus,
    SubscriptionStatus,
    ensure_invoice_move,
    ensure_subscription_move,
)

TABLE = Subscription.__tablename__
EMAIL_COLUMN = "customer_email"


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionEdit:
    """A merchant's change of a subscription's terms; None leaves a term as it is."""

    amount: int | None = None
    plan_id: str | None = None
    payment_method_id: str | None = None
    metadata: Mapping[str, Any] | None = None

    def changed(self) -> list[str]:
        """The names of the terms it changes, sorted (the audit row lists them)."""
        given = {
            "amount": self.amount,
            "plan_id": self.plan_id,
            "payment_method_id": self.payment_method_id,
            "metadata": self.metadata,
        }
        return sorted(name for name, value in given.items() if value is not None)


def subject_of(subscription: Subscription) -> Subject:
    return Subject(
        merchant_id=subscription.merchant_id,
        livemode=subscription.livemode,
        object_type="subscription",
        object_id=subscription.id,
    )


def invoice_subject(invoice: Invoice) -> Subject:
    return Subject(
        merchant_id=invoice.merchant_id,
        livemode=invoice.livemode,
        object_type="invoice",
        object_id=invoice.id,
    )


def schedule_of(subscription: Subscription) -> Schedule:
    return Schedule(
        anchor=subscription.billing_anchor,
        interval=Interval(subscription.interval),
        count=subscription.interval_count,
    )


class SubscriptionService:
    def __init__(self, session: AsyncSession, clock: Clock, crypto: FieldCrypto) -> None:
        self.session = session
        self.clock = clock
        self.crypto = crypto
        self.subscriptions = SubscriptionRepository(session)
        self.history = HistoryService(session, clock)

    # -- reading --------------------------------------------------------------------

    async def get(
        self, owner: Owner, subscription_id: str, *, for_update: bool = False
    ) -> Subscription:
        found = await self.subscriptions.get(
            owner.merchant_id, owner.livemode, subscription_id, for_update=for_update
        )
        if found is None:
            raise NotFound(f"No subscription {subscription_id}.")
        return found

    async def invoices(
        self, owner: Owner, subscription_id: str, *, cursor: str | None, limit: int
    ) -> tuple[list[Invoice], Mapping[str, list[InvoiceAttempt]], str | None]:
        subscription = await self.get(owner, subscription_id)
        invoices, next_cursor = await self.subscriptions.invoices_of(
            subscription.merchant_id, subscription.id, cursor=cursor, limit=limit
        )
        attempts = await self.subscriptions.attempts_of([invoice.id for invoice in invoices])
        return invoices, attempts, next_cursor

    def customer_email(self, subscription: Subscription) -> str | None:
        return self.crypto.open(
            subscription.customer_email_encrypted,
            table=TABLE,
            column=EMAIL_COLUMN,
            row_id=subscription.id,
        )

    def seal_email(self, subscription: Subscription, email: str | None) -> None:
        subscription.customer_email_encrypted = self.crypto.seal(
            email, table=TABLE, column=EMAIL_COLUMN, row_id=subscription.id
        )
        subscription.customer_email_index = (
            self.crypto.blind_index.email(email) if email is not None else None
        )

    # -- writing --------------------------------------------------------------------

    async def open(
        self, subscription: Subscription, actor: Actor, details: Mapping[str, Any]
    ) -> None:
        """Insert a new subscription with its first event and the request's audit row."""
        subscription.created_at = subscription.updated_at = self.clock.now()
        await self.subscriptions.add(subscription)
        await self.history.record_change(
            Change(subject_of(subscription), None, subscription.status), actor
        )
        await self.history.record_mutation(
            subject_of(subscription), "subscription.create", actor, details
        )

    async def move(
        self,
        subscription: Subscription,
        target: SubscriptionStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        next_billing_at: datetime | None,
        occasion: str | None = None,
        related_id: str | None = None,
    ) -> None:
        """Change status (checked against the table) with an event; every move says
        when the subscription is billed next (None: not until something changes).
        `occasion`, `related_id`: see `note`, for a move that is one."""
        current = SubscriptionStatus(subscription.status)
        ensure_subscription_move(current, target, subscription_id=subscription.id)
        subscription.status = target
        subscription.next_billing_at = next_billing_at
        self._touch(subscription)
        await self.history.record_change(
            Change(
                subject_of(subscription),
                current,
                target,
                reason,
                occasion=occasion,
                related_id=related_id,
            ),
            actor,
        )

    async def note(
        self,
        subscription: Subscription,
        occasion: str,
        actor: Actor,
        *,
        related_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """An event that changes no status (from = to = the current one): what
        happened to the subscription when its status does not say it (a renewal
        paid, a renewal attempt failed), so it has a `sequence` (issue 18)."""
        status = subscription.status
        await self.history.record_change(
            Change(
                subject_of(subscription),
                status,
                status,
                reason,
                occasion=occasion,
                related_id=related_id,
            ),
            actor,
        )

    async def cancel(
        self,
        subscription: Subscription,
        actor: Actor,
        *,
        reason: str,
        cancellation: CancellationReason | None = None,
    ) -> None:
        """End it `canceled` now: nothing is billed any more. `cancellation` is kept
        for the ends the API must treat apart (a creation that failed)."""
        subscription.canceled_at = self.clock.now()
        subscription.cancellation_reason = cancellation
        await self.move(
            subscription, SubscriptionStatus.CANCELED, actor, reason=reason, next_billing_at=None
        )

    def enter_period(self, subscription: Subscription, invoice: Invoice) -> None:
        """The invoice's period is paid: it becomes the current one, and the failures
        of the last one are forgotten."""
        subscription.current_period_start = invoice.period_start
        subscription.current_period_end = invoice.period_end
        subscription.cycles_billed += 1
        subscription.failed_attempts = 0
        self._touch(subscription)

    def record_failures(self, subscription: Subscription, failed_attempts: int) -> None:
        """How many attempts of the unpaid period failed so far (dunning counts them)."""
        subscription.failed_attempts = failed_attempts
        self._touch(subscription)

    def schedule_billing(self, subscription: Subscription, at: datetime | None) -> None:
        subscription.next_billing_at = at
        self._touch(subscription)

    def cancel_at_period_end(self, subscription: Subscription) -> None:
        subscription.cancel_at_period_end = True
        self._touch(subscription)

    def edit(self, subscription: Subscription, edit: SubscriptionEdit) -> None:
        """The merchant's changes of terms (PUT), each only when given."""
        if edit.amount is not None:
            subscription.amount = edit.amount
        if edit.plan_id is not None:
            subscription.plan_id = edit.plan_id
        if edit.payment_method_id is not None:
            subscription.payment_method_id = edit.payment_method_id
        if edit.metadata is not None:
            subscription.metadata_ = dict(edit.metadata)
        if edit.changed():
            self._touch(subscription)

    def _touch(self, row: Subscription | Invoice) -> None:
        row.updated_at = self.clock.now()

    async def open_invoice(self, invoice: Invoice, actor: Actor, *, reason: str) -> Invoice | None:
        """Insert the invoice of a period, unless that period has one already
        (invariant 5): None then, and nothing is written."""
        invoice.created_at = invoice.updated_at = self.clock.now()
        inserted = await self.subscriptions.insert_invoice(invoice)
        if inserted is not None:
            await self.history.record_change(
                Change(invoice_subject(inserted), None, inserted.status, reason), actor
            )
        return inserted

    async def open_invoices(
        self, openings: Sequence[tuple[Invoice, str]], actor: Actor
    ) -> set[str]:
        """`open_invoice` for a batch of (invoice, reason), in one insert and one
        insert of their events: the ids inserted (a period billed already is
        skipped, writing nothing)."""
        now = self.clock.now()
        for invoice, _ in openings:
            invoice.created_at = invoice.updated_at = now
        inserted = await self.subscriptions.insert_invoices([invoice for invoice, _ in openings])
        await self.history.record_creations(
            [
                Change(invoice_subject(invoice), None, invoice.status, reason)
                for invoice, reason in openings
                if invoice.id in inserted
            ],
            actor,
        )
        return inserted

    async def move_invoice(
        self,
        invoice: Invoice,
        target: InvoiceStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        next_attempt_at: datetime | None,
    ) -> None:
        """Change status (checked against the table) with an event; every move says
        when the invoice is charged next (None: never, unless something changes)."""
        current = InvoiceStatus(invoice.status)
        ensure_invoice_move(current, target, invoice_id=invoice.id)
        invoice.status = target
        invoice.next_attempt_at = next_attempt_at
        self._touch(invoice)
        await self.history.record_change(
            Change(invoice_subject(invoice), current, target, reason), actor
        )

    async def pay_invoice(self, invoice: Invoice, actor: Actor, *, reason: str | None) -> None:
        invoice.paid_at = self.clock.now()
        await self.move_invoice(
            invoice, InvoiceStatus.PAID, actor, reason=reason, next_attempt_at=None
        )

    def schedule_attempt(self, invoice: Invoice, at: datetime | None) -> None:
        """When the tick charges this unpaid invoice next (None: not while it waits)."""
        invoice.next_attempt_at = at
        self._touch(invoice)

    async def record_mutation(
        self, subscription: Subscription, action: str, actor: Actor, details: Mapping[str, Any]
    ) -> None:
        await self.history.record_mutation(subject_of(subscription), action, actor, details)

    def now(self) -> datetime:
        return self.clock.now()

    async def list(
        self, owner: Owner, filters: SubscriptionFilters, *, cursor: str | None, limit: int
    ) -> tuple[list[Subscription], str | None]:
        return await self.subscriptions.page(
            owner.merchant_id, owner.livemode, filters, cursor=cursor, limit=limit
        )
