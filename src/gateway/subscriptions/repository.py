"""Every query on subscriptions, invoices and attempts.

Billing claims rows with `FOR UPDATE SKIP LOCKED` (two ticks, or a tick and
`gateway billing run`, never take one row twice nor wait on each other) and
reads every time it compares against as a parameter (the clock's `now`, never
SQL's), so a test clock can drive the same queries.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from gateway.core.pagination import newest_first, page_of
from gateway.merchants.models import Merchant
from gateway.payments.models import Transaction
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.states import (
    COLLECTING,
    SCHEDULED,
    UNPAID,
    AttemptStatus,
    CancellationReason,
    SubscriptionStatus,
)

# Where a claim's previous batch stopped: (due time, id) of its last row.
Cursor = tuple[datetime, str]


@dataclass(frozen=True)
class SubscriptionFilters:
    status: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class InvoiceInFlight:
    invoice: Invoice
    pending: bool  # an attempt of it is in flight
    next_number: int  # the number of its next attempt
    merchant_max_amount: int | None  # None: the deployment's ceiling applies


def _on_clock(
    column: InstrumentedAttribute[str | None], clock_id: str | None
) -> ColumnElement[bool]:
    """Rows of one test clock, or (None) of the wall clock only."""
    return column.is_(None) if clock_id is None else column == clock_id


def _unpaid_invoice_of(subscription_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    return exists().where(
        Invoice.subscription_id == subscription_id, Invoice.status.in_(list(UNPAID))
    )


def _pending_attempt_of(invoice_id: InstrumentedAttribute[str]) -> ColumnElement[bool]:
    return exists().where(
        InvoiceAttempt.invoice_id == invoice_id, InvoiceAttempt.status == AttemptStatus.PENDING
    )


def visible_to_clients() -> ColumnElement[bool]:
    """Subscriptions that exist for clients: not those whose creation failed (kept,
    canceled, with their events, but never shown: API.md "Creation")."""
    return Subscription.cancellation_reason.is_distinct_from(CancellationReason.CREATION_FAILED)


class SubscriptionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: Subscription | Invoice | InvoiceAttempt) -> None:
        self.session.add(row)
        await self.session.flush()

    # -- subscriptions --------------------------------------------------------------

    async def get(
        self, merchant_id: str, livemode: bool, subscription_id: str, *, for_update: bool = False
    ) -> Subscription | None:
        """A subscription of this merchant and mode, else None (invariant 6)."""
        statement = select(Subscription).where(
            Subscription.merchant_id == merchant_id,
            Subscription.livemode == livemode,
            Subscription.id == subscription_id,
            visible_to_clients(),
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def lock(self, subscription_id: str, *, skip_locked: bool = False) -> Subscription | None:
        """Any merchant's subscription, locked (billing acts for every merchant)."""
        statement = (
            select(Subscription)
            .where(Subscription.id == subscription_id)
            .with_for_update(skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def page(
        self,
        merchant_id: str,
        livemode: bool,
        filters: SubscriptionFilters,
        *,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Subscription], str | None]:
        statement = select(Subscription).where(
            Subscription.merchant_id == merchant_id,
            Subscription.livemode == livemode,
            visible_to_clients(),
        )
        if filters.status is not None:
            statement = statement.where(Subscription.status == filters.status)
        if filters.customer_id is not None:
            statement = statement.where(Subscription.customer_id == filters.customer_id)
        statement = newest_first(
            statement, Subscription.created_at, Subscription.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))

    async def claim_due(
        self, *, now: datetime, clock_id: str | None, after: Cursor | None, limit: int
    ) -> list[Subscription]:
        """Subscriptions whose next billing date has come and that owe nothing:
        while an invoice is unpaid, the next period is not billed."""
        statement = select(Subscription).where(
            Subscription.status.in_(list(SCHEDULED)),
            Subscription.next_billing_at <= now,
            _on_clock(Subscription.test_clock_id, clock_id),
            ~_unpaid_invoice_of(Subscription.id),
        )
        if after is not None:
            statement = statement.where(
                tuple_(Subscription.next_billing_at, Subscription.id) > tuple_(*after)
            )
        statement = (
            statement.order_by(Subscription.next_billing_at, Subscription.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())

    async def count_by_status(self) -> dict[tuple[str, bool], int]:
        statement = (
            select(Subscription.status, Subscription.livemode, func.count())
            .where(visible_to_clients())
            .group_by(Subscription.status, Subscription.livemode)
        )
        rows = (await self.session.execute(statement)).all()
        return {(status, livemode): count for status, livemode, count in rows}

    async def oldest_due(self, *, now: datetime) -> datetime | None:
        """The earliest next billing date (a renewal, or a retry while past due) of
        the wall clock's subscriptions that has come by `now`."""
        oldest: datetime | None = await self.session.scalar(
            select(func.min(Subscription.next_billing_at)).where(
                Subscription.status.in_([*SCHEDULED, SubscriptionStatus.PAST_DUE]),
                Subscription.test_clock_id.is_(None),
                Subscription.next_billing_at <= now,
            )
        )
        return oldest

    # -- invoices -------------------------------------------------------------------

    async def insert_invoice(self, invoice: Invoice) -> Invoice | None:
        """Insert unless the period is billed already (invariant 5): None then."""
        values = {column.key: getattr(invoice, column.key) for column in Invoice.__table__.columns}
        inserted = await self.session.execute(
            insert(Invoice)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["subscription_id", "period_start"])
            .returning(Invoice.id)
        )
        if inserted.scalar_one_or_none() is None:
            return None
        return await self.session.get(Invoice, invoice.id)

    async def insert_invoices(self, invoices: Sequence[Invoice]) -> set[str]:
        """Insert each unless its period is billed already (invariant 5), in one
        statement; the ids it inserted."""
        if not invoices:
            return set()
        keys = [column.key for column in Invoice.__table__.columns]
        inserted = await self.session.execute(
            insert(Invoice)
            .values([{key: getattr(invoice, key) for key in keys} for invoice in invoices])
            .on_conflict_do_nothing(index_elements=["subscription_id", "period_start"])
            .returning(Invoice.id)
        )
        return set(inserted.scalars().all())

    async def invoice(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        statement = select(Invoice).where(Invoice.id == invoice_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).one_or_none()

    async def unpaid_invoice(self, subscription_id: str) -> Invoice | None:
        """The invoice still waiting for money, if any (there is at most one)."""
        statement = (
            select(Invoice)
            .where(Invoice.subscription_id == subscription_id, Invoice.status.in_(list(UNPAID)))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def invoices_of(
        self, merchant_id: str, subscription_id: str, *, cursor: str | None, limit: int
    ) -> tuple[list[Invoice], str | None]:
        statement = select(Invoice).where(
            Invoice.merchant_id == merchant_id, Invoice.subscription_id == subscription_id
        )
        statement = newest_first(
            statement, Invoice.created_at, Invoice.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))

    async def claim_collectible(
        self,
        *,
        now: datetime | None,
        clock_id: str | None,
        after: Cursor | None,
        limit: int,
    ) -> list[Invoice]:
        """Unpaid invoices whose next attempt is due (any scheduled one when `now` is
        None), with nothing in flight, of subscriptions still collecting."""
        collecting = exists().where(
            Subscription.id == Invoice.subscription_id,
            Subscription.status.in_(list(COLLECTING)),
            _on_clock(Subscription.test_clock_id, clock_id),
        )
        statement = select(Invoice).where(
            Invoice.status.in_(list(UNPAID)),
            Invoice.next_attempt_at.is_not(None),
            collecting,
            ~_pending_attempt_of(Invoice.id),
        )
        if now is not None:
            statement = statement.where(Invoice.next_attempt_at <= now)
        if after is not None:
            statement = statement.where(
                tuple_(Invoice.next_attempt_at, Invoice.id) > tuple_(*after)
            )
        statement = (
            statement.order_by(Invoice.next_attempt_at, Invoice.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())

    # -- attempts -------------------------------------------------------------------

    async def attempts_of(self, invoice_ids: Collection[str]) -> dict[str, list[InvoiceAttempt]]:
        if not invoice_ids:
            return {}
        statement = (
            select(InvoiceAttempt)
            .where(InvoiceAttempt.invoice_id.in_(list(invoice_ids)))
            .order_by(InvoiceAttempt.invoice_id, InvoiceAttempt.number)
        )
        found: dict[str, list[InvoiceAttempt]] = {invoice_id: [] for invoice_id in invoice_ids}
        for attempt in (await self.session.scalars(statement)).all():
            found[attempt.invoice_id].append(attempt)
        return found

    async def lock_of_invoice(self, invoice_id: str) -> Subscription | None:
        """The subscription an invoice bills, locked (one round trip, not two)."""
        statement = (
            select(Subscription)
            .where(
                Subscription.id
                == select(Invoice.subscription_id).where(Invoice.id == invoice_id).scalar_subquery()
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def lock_invoice_in_flight(self, invoice_id: str) -> InvoiceInFlight | None:
        """The invoice, locked, whether an attempt of it is pending, the number its
        next attempt takes and its merchant's own amount ceiling (one round trip).
        Only after the subscription's lock: this statement's snapshot must see an
        attempt whose phase 1 committed while it waited for that lock (a subquery
        here is read with the statement's snapshot, never rechecked)."""
        last_number = (
            select(func.coalesce(func.max(InvoiceAttempt.number), 0))
            .where(InvoiceAttempt.invoice_id == Invoice.id)
            .scalar_subquery()
        )
        max_amount = (
            select(Merchant.max_amount).where(Merchant.id == Invoice.merchant_id).scalar_subquery()
        )
        statement = (
            select(Invoice, _pending_attempt_of(Invoice.id), last_number, max_amount)
            .where(Invoice.id == invoice_id)
            .with_for_update(of=Invoice)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            return None
        return InvoiceInFlight(
            row[0], pending=bool(row[1]), next_number=int(row[2]) + 1, merchant_max_amount=row[3]
        )

    async def pending_attempt(self, invoice_id: str) -> InvoiceAttempt | None:
        statement = (
            select(InvoiceAttempt)
            .where(
                InvoiceAttempt.invoice_id == invoice_id,
                InvoiceAttempt.status == AttemptStatus.PENDING,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def next_attempt_number(self, invoice_id: str) -> int:
        count = await self.session.scalar(
            select(func.coalesce(func.max(InvoiceAttempt.number), 0)).where(
                InvoiceAttempt.invoice_id == invoice_id
            )
        )
        return int(count or 0) + 1

    async def resolved_in_flight(
        self, *, clock_id: str | None, limit: int
    ) -> Sequence[tuple[str, str]]:
        """(subscription id, transaction id) of attempts still pending whose
        purchase has an outcome now (reconciliation found it)."""
        statement = (
            select(Invoice.subscription_id, InvoiceAttempt.transaction_id)
            .join(Invoice, Invoice.id == InvoiceAttempt.invoice_id)
            .join(Transaction, Transaction.id == InvoiceAttempt.transaction_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(
                InvoiceAttempt.status == AttemptStatus.PENDING,
                Transaction.status != "pending",
                _on_clock(Subscription.test_clock_id, clock_id),
            )
            .order_by(InvoiceAttempt.attempted_at, InvoiceAttempt.id)
            .limit(limit)
        )
        rows = (await self.session.execute(statement)).all()
        return [(row[0], row[1]) for row in rows if row[1] is not None]

    async def attempt_of_transaction(self, transaction_id: str) -> InvoiceAttempt | None:
        statement = (
            select(InvoiceAttempt)
            .where(InvoiceAttempt.transaction_id == transaction_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def lock_attempt(
        self, subscription_id: str, invoice_id: str, transaction_id: str
    ) -> tuple[Subscription, Invoice, InvoiceAttempt]:
        """The three rows an outcome changes, locked in the one order every writer
        follows (subscription, invoice, attempt: PostgreSQL locks a joined row's
        tables in the order `FOR UPDATE OF` names them), so none waits on another
        in a cycle; one round trip, not three."""
        statement = (
            select(Subscription, Invoice, InvoiceAttempt)
            .join(Invoice, Invoice.subscription_id == Subscription.id)
            .join(InvoiceAttempt, InvoiceAttempt.invoice_id == Invoice.id)
            .where(
                Subscription.id == subscription_id,
                Invoice.id == invoice_id,
                InvoiceAttempt.transaction_id == transaction_id,
            )
            .with_for_update(of=[Subscription, Invoice, InvoiceAttempt])
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            raise LookupError(f"the attempt of {transaction_id} is gone")
        return row[0], row[1], row[2]
