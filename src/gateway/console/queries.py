"""The console's reads: across merchants, as an operator sees the gateway.

The API's repositories answer one merchant at a time (invariant 6); an operator
looks for a payment before knowing whose it is, so these queries take the mode
(test or live, never both on one page) and search every merchant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.merchants.models import ApiKey, Merchant
from gateway.payments.models import Transaction
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint

PAGE = 50


@dataclass(frozen=True)
class PaymentSearch:
    livemode: bool
    text: str | None = None  # a transaction id, an order id or a customer id
    last4: str | None = None
    status: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


class ConsoleQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def payments(self, search: PaymentSearch, limit: int = PAGE) -> list[Transaction]:
        query = select(Transaction).where(Transaction.livemode == search.livemode)
        if search.text:
            text = search.text.strip()
            query = query.where(
                or_(
                    Transaction.id == text,
                    Transaction.order_id == text,
                    Transaction.customer_id == text,
                )
            )
        else:
            query = query.where(Transaction.parent_id.is_(None))
        if search.last4:
            query = query.where(Transaction.card_last4 == search.last4)
        if search.status:
            query = query.where(Transaction.status == search.status)
        if search.created_gte is not None:
            query = query.where(Transaction.created_at >= search.created_gte)
        if search.created_lt is not None:
            query = query.where(Transaction.created_at < search.created_lt)
        query = query.order_by(Transaction.created_at.desc(), Transaction.id.desc()).limit(limit)
        return list((await self.session.scalars(query)).all())

    async def payment(self, transaction_id: str) -> Transaction | None:
        return await self.session.get(Transaction, transaction_id)

    async def children(self, parent: Transaction) -> list[Transaction]:
        query = (
            select(Transaction)
            .where(
                Transaction.merchant_id == parent.merchant_id, Transaction.parent_id == parent.id
            )
            .order_by(Transaction.created_at, Transaction.id)
        )
        return list((await self.session.scalars(query)).all())

    async def timeline(self, merchant_id: str, object_ids: list[str]) -> list[Event]:
        query = (
            select(Event)
            .where(Event.merchant_id == merchant_id, Event.object_id.in_(object_ids))
            .order_by(Event.created_at, Event.object_id, Event.sequence)
        )
        return list((await self.session.scalars(query)).all())

    async def backlog(self, livemode: bool, status: str, limit: int = PAGE) -> list[Transaction]:
        query = (
            select(Transaction)
            .where(Transaction.livemode == livemode, Transaction.status == status)
            .order_by(Transaction.created_at, Transaction.id)
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())

    async def inbound_events(self, status: str | None, limit: int = PAGE) -> list[WebhookEvent]:
        query = select(WebhookEvent)
        if status:
            query = query.where(WebhookEvent.status == status)
        query = query.order_by(WebhookEvent.received_at.desc(), WebhookEvent.id.desc()).limit(limit)
        return list((await self.session.scalars(query)).all())

    async def endpoints(self, livemode: bool, limit: int = PAGE) -> list[WebhookEndpoint]:
        query = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.livemode == livemode)
            .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())

    async def deliveries(
        self, livemode: bool, status: str | None, limit: int = PAGE
    ) -> list[WebhookDelivery]:
        query = select(WebhookDelivery).where(WebhookDelivery.livemode == livemode)
        if status:
            query = query.where(WebhookDelivery.status == status)
        query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        return list((await self.session.scalars(query.limit(limit))).all())

    async def subscriptions(self, livemode: bool, limit: int = PAGE) -> list[Subscription]:
        query = (
            select(Subscription)
            .where(Subscription.livemode == livemode)
            .order_by(Subscription.created_at.desc(), Subscription.id.desc())
            .limit(limit)
        )
        return list((await self.session.scalars(query)).all())

    async def subscription(self, subscription_id: str) -> Subscription | None:
        return await self.session.get(Subscription, subscription_id)

    async def invoices(self, subscription: Subscription) -> list[Invoice]:
        query = (
            select(Invoice)
            .where(
                Invoice.merchant_id == subscription.merchant_id,
                Invoice.subscription_id == subscription.id,
            )
            .order_by(Invoice.period_start.desc())
        )
        return list((await self.session.scalars(query)).all())

    async def attempts(self, invoice_ids: list[str]) -> list[InvoiceAttempt]:
        if not invoice_ids:
            return []
        query = (
            select(InvoiceAttempt)
            .where(InvoiceAttempt.invoice_id.in_(invoice_ids))
            .order_by(InvoiceAttempt.invoice_id, InvoiceAttempt.number)
        )
        return list((await self.session.scalars(query)).all())

    async def merchants(self, limit: int = 200) -> list[Merchant]:
        query = select(Merchant).order_by(Merchant.created_at.desc(), Merchant.id.desc())
        return list((await self.session.scalars(query.limit(limit))).all())

    async def merchant(self, merchant_id: str) -> Merchant | None:
        return await self.session.get(Merchant, merchant_id)

    async def keys(self, merchant_id: str) -> list[ApiKey]:
        query = (
            select(ApiKey)
            .where(ApiKey.merchant_id == merchant_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
        return list((await self.session.scalars(query)).all())

    async def key(self, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def counts_by_status(self, livemode: bool) -> dict[str, int]:
        query = (
            select(Transaction.status, func.count())
            .where(
                Transaction.livemode == livemode,
                Transaction.status.in_(["pending", "requires_review"]),
            )
            .group_by(Transaction.status)
        )
        rows = (await self.session.execute(query)).all()
        return {str(row[0]): int(row[1]) for row in rows}
