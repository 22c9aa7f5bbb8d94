"""The body of a delivery's attempt (API.md "Webhooks / Outbound").

PLACEHOLDER of the delivery worker's branch: the `events` helper's version (the
object rendered as its GET returns it) replaces this file at merge. This one
keeps the same interface and sends the envelope with only the object's id.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.core.crypto import FieldCrypto
from gateway.webhooks.outbound.models import WebhookDelivery


class PayloadRenderer:
    def __init__(self, crypto: FieldCrypto) -> None:
        self._crypto = crypto

    async def render(self, session: AsyncSession, delivery: WebhookDelivery) -> bytes:
        created_at = await session.scalar(
            select(Event.created_at).where(Event.id == delivery.event_id)
        )
        envelope = {
            "id": delivery.event_id,
            "type": delivery.event_type,
            "created_at": (created_at or delivery.created_at).isoformat(),
            "livemode": delivery.livemode,
            "sequence": delivery.sequence,
            "data": {"object": {"id": delivery.object_id}},
        }
        return json.dumps(envelope, separators=(",", ":")).encode()
