"""What a delivery sends: its event, with the object rendered at each attempt.

`data.object` is the object as its GET returns it now (API.md: rendered from
its current state, by the GET routes' own response functions), so nothing of
it is stored with the delivery and no card number can be in it (the GET shows
only brand, last4 and expiry). A renewal's events carry the invoice they
concern as `data.invoice`, as the subscription's invoices list shows it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.repository import EventRepository
from gateway.core.clock import SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.errors import NotFound
from gateway.payments.repository import TransactionRepository
from gateway.payments.responses import transaction_detail
from gateway.payments.schemas import TransactionDetailOut
from gateway.subscriptions.responses import invoice_out, subscription_out
from gateway.subscriptions.schemas import InvoiceOut, SubscriptionOut
from gateway.subscriptions.service import SubscriptionService
from gateway.webhooks.outbound.mapping import WITH_INVOICE
from gateway.webhooks.outbound.models import WebhookDelivery


class EventData(msgspec.Struct, kw_only=True, omit_defaults=True):
    object: TransactionDetailOut | SubscriptionOut
    invoice: InvoiceOut | None = None


class OutboundEvent(msgspec.Struct, kw_only=True):
    """The body of every attempt of a delivery (API.md "Webhooks / Outbound")."""

    id: str
    type: str
    created_at: datetime
    livemode: bool
    sequence: int
    data: EventData


class PayloadRenderer:
    def __init__(self, crypto: FieldCrypto) -> None:
        self.crypto = crypto

    async def render(self, session: AsyncSession, delivery: WebhookDelivery) -> bytes:
        """The JSON body of the delivery's next attempt. NotFound when its event or
        object is no longer there for its merchant (never the case for a sent
        event's object: rows are not deleted)."""
        event = await EventRepository(session).get(delivery.event_id)
        if event is None or event.merchant_id != delivery.merchant_id:
            raise NotFound(f"No event {delivery.event_id}.")
        body = OutboundEvent(
            id=event.id,
            type=delivery.event_type,
            created_at=event.created_at,
            livemode=event.livemode,
            sequence=event.sequence,
            data=await self._data(session, delivery, event),
        )
        return msgspec.json.encode(body)

    async def _data(
        self, session: AsyncSession, delivery: WebhookDelivery, event: Event
    ) -> EventData:
        if delivery.object_type == "transaction":
            return EventData(object=await self._transaction(session, delivery))
        if delivery.object_type == "subscription":
            invoice = (
                await self._invoice(session, delivery, event.related_id)
                if delivery.event_type in WITH_INVOICE and event.related_id is not None
                else None
            )
            return EventData(object=await self._subscription(session, delivery), invoice=invoice)
        raise NotFound(f"No outbound rendering of a {delivery.object_type}.")

    async def _transaction(
        self, session: AsyncSession, delivery: WebhookDelivery
    ) -> TransactionDetailOut:
        found = await TransactionRepository(session).get(
            delivery.merchant_id, delivery.livemode, delivery.object_id
        )
        if found is None:
            raise NotFound(f"No transaction {delivery.object_id}.")
        events = await EventRepository(session).for_object(found.merchant_id, found.id)
        return transaction_detail(found, events, self.crypto)

    def _subscriptions(self, session: AsyncSession) -> SubscriptionService:
        # Reading only: the clock is never asked.
        return SubscriptionService(session, SystemClock(), self.crypto)

    async def _subscription(
        self, session: AsyncSession, delivery: WebhookDelivery
    ) -> SubscriptionOut:
        service = self._subscriptions(session)
        found = await service.subscriptions.get(
            delivery.merchant_id, delivery.livemode, delivery.object_id
        )
        if found is None:
            raise NotFound(f"No subscription {delivery.object_id}.")
        return subscription_out(found, service)

    async def _invoice(
        self, session: AsyncSession, delivery: WebhookDelivery, invoice_id: str
    ) -> InvoiceOut | None:
        repository = self._subscriptions(session).subscriptions
        found = await repository.invoice(invoice_id)
        if found is None or found.merchant_id != delivery.merchant_id:
            return None
        attempts = await repository.attempts_of([found.id])
        return invoice_out(found, attempts.get(found.id, []))
