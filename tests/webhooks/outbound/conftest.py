"""Endpoints and deliveries of the outbound webhooks API, for tests that need
rows to act on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.ids import new_id
from gateway.webhooks.outbound.models import WebhookDelivery

DeliveryFactory = Callable[..., Awaitable[WebhookDelivery]]


def delivery_row(
    endpoint_id: str,
    merchant_id: str,
    *,
    livemode: bool = False,
    status: str = "pending",
    created_at: datetime,
    event_type: str = "payment.captured",
    attempts: int = 0,
    leased_until: datetime | None = None,
) -> WebhookDelivery:
    return WebhookDelivery(
        id=new_id("whd"), merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id,
        event_id=new_id("evt"), event_type=event_type, object_type="transaction",
        object_id=new_id("txn"), sequence=1, status=status, attempts=attempts,
        next_attempt_at=None if status in ("succeeded", "dead") else created_at,
        leased_until=leased_until, last_status_code=500 if status in ("failed", "dead") else None,
        last_error=None, created_at=created_at, updated_at=created_at,
        delivered_at=created_at if status == "succeeded" else None,
    )  # fmt: skip


@pytest.fixture
def add_delivery(db_session: AsyncSession, clock: FrozenClock) -> DeliveryFactory:
    """A committed delivery of an endpoint (the merchant and mode are the endpoint's)."""

    async def add(
        endpoint_id: str,
        merchant_id: str,
        *,
        created_at: datetime | None = None,
        **fields: object,
    ) -> WebhookDelivery:
        row = delivery_row(
            endpoint_id,
            merchant_id,
            created_at=created_at or clock.now(),
            **fields,  # type: ignore[arg-type]
        )
        db_session.add(row)
        await db_session.commit()
        return row

    return add
