"""Endpoints written as rows, and relay passes with the deliveries fan-out, on the
test's sessions and frozen clock (what `jobs/outbox.py` runs, without RQ)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.outbox import Dispatch, EventOutbox, OutboxRelay
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.merchants.models import Merchant
from gateway.webhooks.outbound.fanout import DeliveryFanout
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint
from gateway.webhooks.outbound.sealing import seal_secrets
from gateway.webhooks.outbound.signing import SigningSecrets, new_secret


def new_endpoint(
    crypto: FieldCrypto,
    merchant_id: str,
    clock: FrozenClock,
    *,
    events: Sequence[str] = ("*",),
    livemode: bool = False,
    disabled: bool = False,
) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        id=new_id("wep"),
        merchant_id=merchant_id,
        livemode=livemode,
        url="http://127.0.0.1:9/hooks",
        events=list(events),
        description=None,
        disabled=disabled,
        disabled_reason="turned off" if disabled else None,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    seal_secrets(crypto, endpoint, SigningSecrets(current=new_secret()))
    return endpoint


async def relay_once(session: AsyncSession, clock: FrozenClock) -> list[Dispatch]:
    sent: list[Dispatch] = []
    await OutboxRelay(session, clock, (EventOutbox(fanouts=(DeliveryFanout(),)),)).relay(
        sent.extend
    )
    return sent


@dataclass
class Outbound:
    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock
    crypto: FieldCrypto
    merchant: Merchant

    async def endpoint(
        self,
        events: Sequence[str] = ("*",),
        *,
        merchant_id: str | None = None,
        livemode: bool = False,
        disabled: bool = False,
    ) -> str:
        endpoint = new_endpoint(
            self.crypto,
            merchant_id or self.merchant.id,
            self.clock,
            events=events,
            livemode=livemode,
            disabled=disabled,
        )
        async with self.sessions() as session:
            session.add(endpoint)
            await session.commit()
        return endpoint.id

    async def relay(self) -> list[Dispatch]:
        """Relay passes until nothing is left; every job they enqueued."""
        sent: list[Dispatch] = []
        while True:
            async with self.sessions() as session:
                batch = await relay_once(session, self.clock)
                await session.commit()
            if not batch:
                return sent
            sent += batch

    async def deliveries(
        self, endpoint_id: str | None = None, *, object_id: str | None = None
    ) -> list[WebhookDelivery]:
        """Oldest first; one object's in its sequence's order."""
        statement = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
        if endpoint_id is not None:
            statement = statement.where(WebhookDelivery.endpoint_id == endpoint_id)
        if object_id is not None:
            statement = statement.where(WebhookDelivery.object_id == object_id).order_by(None)
            statement = statement.order_by(WebhookDelivery.sequence)
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def types(self, object_id: str, endpoint_id: str | None = None) -> list[str]:
        """What one object's relayed history told an endpoint, in sequence order."""
        await self.relay()
        found = await self.deliveries(endpoint_id, object_id=object_id)
        sequences = [delivery.sequence for delivery in found]
        assert sequences == sorted(set(sequences)), "one object's sequences strictly increase"
        return [delivery.event_type for delivery in found]


@pytest.fixture
def outbound(
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    merchant: Merchant,
) -> Outbound:
    return Outbound(session_factory, clock, field_crypto, merchant)
