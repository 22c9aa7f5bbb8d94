"""Reading and changing subscriptions and invoices inside the caller's session.

Every status change goes through `move` or `move_invoice`, which check the
transition table and append the event in the same transaction (DESIGN.md
invariant 7). No HTTP, no commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, Change, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import NotFound
from gateway.core.tenancy import Owner
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.repository import SubscriptionFilters, SubscriptionRepository
from gateway.subscriptions.schedule import Interval, Schedule
from gateway.subscriptions.states import (
    InvoiceStatus,
    SubscriptionStatus,
    ensure_invoice_move,
    ensure_subscription_move,
)

TABLE = Subscription.__tablename__
EMAIL_COLUMN = "customer_email"


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
        **fields: Any,
    ) -> None:
        current = SubscriptionStatus(subscription.status)
        ensure_subscription_move(current, target, subscription_id=subscription.id)
        self.update(subscription, status=target, **fields)
        await self.history.record_change(
            Change(subject_of(subscription), current, target, reason), actor
        )

    def update(self, row: Subscription | Invoice, **fields: Any) -> None:
        """Change fields that are not a status move (dates, counters, settings)."""
        for name, value in fields.items():
            setattr(row, name, value)
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

    async def move_invoice(
        self,
        invoice: Invoice,
        target: InvoiceStatus,
        actor: Actor,
        *,
        reason: str | None = None,
        **fields: Any,
    ) -> None:
        current = InvoiceStatus(invoice.status)
        ensure_invoice_move(current, target, invoice_id=invoice.id)
        self.update(invoice, status=target, **fields)
        await self.history.record_change(
            Change(invoice_subject(invoice), current, target, reason), actor
        )

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
