"""Every query on test clocks, and what a clock's advance asks of the billing tables.

The next moment anything is due on a clock is the earliest of: a subscription's
next billing date (renewal, trial end, expiry, cancel at period end) while it
owes nothing; an unpaid invoice's next attempt (a dunning retry) with nothing in
flight; a pending attempt whose purchase reconciliation has resolved (due at
once); and the next look at a purchase whose outcome is unknown. Every time is a
column of the rows, compared with nothing of SQL's own clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.payments.models import Transaction
from gateway.payments.states import ParentStatus, PendingReason
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription, TestClock
from gateway.subscriptions.repository import visible_to_clients
from gateway.subscriptions.states import COLLECTING, ENDED, SCHEDULED, UNPAID, AttemptStatus


def _pending_attempt_of_invoice() -> ColumnElement[bool]:
    return exists().where(
        InvoiceAttempt.invoice_id == Invoice.id, InvoiceAttempt.status == AttemptStatus.PENDING
    )


class TestClockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, clock: TestClock) -> None:
        self.session.add(clock)
        await self.session.flush()

    async def get(
        self, clock_id: str, *, merchant_id: str | None, for_update: bool = False
    ) -> TestClock | None:
        """A clock not deleted, of this merchant (None: of any, for operators)."""
        statement = select(TestClock).where(
            TestClock.id == clock_id, TestClock.deleted_at.is_(None)
        )
        if merchant_id is not None:
            statement = statement.where(TestClock.merchant_id == merchant_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).one_or_none()

    async def subscription_count(self, clock_id: str) -> int:
        count = await self.session.scalar(
            select(func.count()).where(Subscription.test_clock_id == clock_id, visible_to_clients())
        )
        return int(count or 0)

    async def live_subscriptions(self, clock_id: str) -> Sequence[str]:
        """Ids of the clock's subscriptions not ended yet, oldest first."""
        statement = (
            select(Subscription.id)
            .where(Subscription.test_clock_id == clock_id, Subscription.status.not_in(list(ENDED)))
            .order_by(Subscription.created_at, Subscription.id)
        )
        return (await self.session.scalars(statement)).all()

    async def next_due(self, clock_id: str, *, now: datetime) -> datetime | None:
        """The earliest moment billing has work on this clock (`now` for work due at
        once); None when nothing will ever be due without a merchant's action."""
        on_clock = Subscription.test_clock_id == clock_id
        renewals = select(Subscription.next_billing_at.label("due")).where(
            on_clock,
            Subscription.status.in_(list(SCHEDULED)),
            Subscription.next_billing_at.is_not(None),
            ~exists().where(
                Invoice.subscription_id == Subscription.id, Invoice.status.in_(list(UNPAID))
            ),
        )
        retries = (
            select(Invoice.next_attempt_at.label("due"))
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(
                on_clock,
                Subscription.status.in_(list(COLLECTING)),
                Invoice.status.in_(list(UNPAID)),
                Invoice.next_attempt_at.is_not(None),
                ~_pending_attempt_of_invoice(),
            )
        )
        in_flight = (
            select(
                func.coalesce(Transaction.next_reconcile_at, Transaction.created_at).label("due")
            )
            .select_from(InvoiceAttempt)
            .join(Transaction, Transaction.id == InvoiceAttempt.transaction_id)
            .join(Invoice, Invoice.id == InvoiceAttempt.invoice_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(
                on_clock,
                InvoiceAttempt.status == AttemptStatus.PENDING,
                # Held for review waits for a person, not for time.
                (Transaction.status != ParentStatus.PENDING)
                | (Transaction.pending_reason == PendingReason.UNKNOWN_OUTCOME),
            )
        )
        due = union_all(renewals, retries, in_flight).subquery()
        earliest: datetime | None = await self.session.scalar(select(func.min(due.c.due)))
        if earliest is None:
            return None
        return max(earliest, now)

    async def unknown_outcomes(self, clock_id: str, *, due_at: datetime) -> Sequence[Transaction]:
        """Purchases of this clock's attempts whose outcome is unknown and whose next
        look is due, locked (a concurrent sweep skips them)."""
        statement = (
            select(Transaction)
            .join(InvoiceAttempt, InvoiceAttempt.transaction_id == Transaction.id)
            .join(Invoice, Invoice.id == InvoiceAttempt.invoice_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(
                Subscription.test_clock_id == clock_id,
                InvoiceAttempt.status == AttemptStatus.PENDING,
                Transaction.status == ParentStatus.PENDING,
                Transaction.pending_reason == PendingReason.UNKNOWN_OUTCOME,
                func.coalesce(Transaction.next_reconcile_at, Transaction.created_at) <= due_at,
            )
            .order_by(Transaction.created_at, Transaction.id)
            .with_for_update(of=Transaction, skip_locked=True)
        )
        return (await self.session.scalars(statement)).all()
