"""The inbox: verify a processor's webhook, store it once, and let operators and
merchants list and replay what was stored (API.md "Webhooks").

Receiving does as little as it can, so the processor is answered in
milliseconds: check the signature over the raw bytes, read the few fields kept,
insert once. The processing job goes out through the outbox relay, and only
for a row this delivery inserted (a duplicate inserts nothing, so queues
nothing). The service never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor, HistoryService, Subject
from gateway.core.clock import Clock
from gateway.core.errors import NotFound, ValidationFailed
from gateway.core.ids import new_id
from gateway.core.tenancy import Owner
from gateway.webhooks import metrics
from gateway.webhooks.errors import InvalidSignature
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.repository import WebhookEventRepository
from gateway.webhooks.schemas import AnetNotification, parse_notification
from gateway.webhooks.signature import verify

Source = Literal["authorize_net", "simulator"]

_log = structlog.get_logger("gateway.webhooks")


@dataclass(frozen=True)
class Received:
    event_id: str
    duplicate: bool


class InboxService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.clock = clock
        self.events = WebhookEventRepository(session)

    async def receive(
        self, source: Source, body: bytes, signature: str | None, keys: Sequence[str]
    ) -> Received:
        """Store a delivery once. Raises InvalidSignature or ValidationFailed, having
        stored nothing."""
        if not verify(body, signature, keys):
            metrics.RECEIVED.labels(source, "unknown", "invalid_signature").inc()
            _log.warning("webhook.invalid_signature", source=source, signed=bool(signature))
            raise InvalidSignature("The X-ANET-Signature header does not sign this body.")
        try:
            notification = parse_notification(body)
        except ValidationFailed:
            metrics.RECEIVED.labels(source, "unknown", "invalid_payload").inc()
            raise
        event = self._event_of(source, notification)
        inserted = await self.events.insert_once(event)
        label = metrics.event_type_label(notification.eventType)
        if not inserted:
            existing = await self.events.find(source, notification.notificationId)
            assert existing is not None  # the conflict was on this very key
            metrics.RECEIVED.labels(source, label, "duplicate").inc()
            _log.info("webhook.duplicate", source=source, event_id=existing.id)
            return Received(event_id=existing.id, duplicate=True)
        metrics.RECEIVED.labels(source, label, "accepted").inc()
        _log.info(
            "webhook.received",
            source=source,
            event_id=event.id,
            event_type=event.event_type,
            entity_id=event.entity_id,
        )
        return Received(event_id=event.id, duplicate=False)

    def _event_of(self, source: Source, notification: AnetNotification) -> WebhookEvent:
        now = self.clock.now()
        payload = notification.payload
        return WebhookEvent(
            id=new_id("we"),
            source=source,
            notification_id=notification.notificationId,
            event_type=notification.eventType,
            event_date=notification.occurred_at,
            webhook_id=notification.webhookId,
            entity_name=payload.entityName,
            entity_id=payload.id,
            reference=notification.reference,
            response_code=payload.responseCode,
            amount=payload.authAmount,
            status="received",
            outcome=None,
            attempts=0,
            last_error=None,
            merchant_id=None,
            livemode=None,
            transaction_id=None,
            received_at=now,
            processed_at=None,
            updated_at=now,
            published_at=None,
            replays=0,
        )


class WebhookEventService:
    """The stored events, as a merchant sees them (`owner`: only events matched to
    its own transactions in its mode) or an operator (`owner` None: all)."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.clock = clock
        self.events = WebhookEventRepository(session)
        self.history = HistoryService(session, clock)

    async def page(
        self, owner: Owner | None, *, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[WebhookEvent], str | None]:
        return await self.events.page(owner=owner, status=status, cursor=cursor, limit=limit)

    async def get(self, owner: Owner | None, event_id: str) -> WebhookEvent:
        event = await self.events.get(event_id, owner=owner)
        if event is None:
            raise NotFound(f"No webhook event {event_id}.")
        return event

    async def replay(self, owner: Owner | None, event_id: str, actor: Actor) -> WebhookEvent:
        """Process one event again, whatever its status, with a fresh set of retries."""
        await self.get(owner, event_id)  # another merchant's event, or none: 404
        await self.replay_ids([event_id], actor, owner=owner)
        return await self.get(owner, event_id)

    async def replay_all(self, owner: Owner | None, status: str, actor: Actor) -> list[str]:
        """Process again every event of `status` (of this merchant and mode)."""
        event_ids = await self.events.ids_with_status(status, owner=owner)
        return await self.replay_ids(event_ids, actor, owner=owner)

    async def replay_ids(
        self, event_ids: Sequence[str], actor: Actor, *, owner: Owner | None = None
    ) -> list[str]:
        """Back to `received`, into the outbox under a new job id; the ids replayed.
        With `owner` (whose events the caller checked these are), audit rows too."""
        replayed = await self.events.replay(event_ids, at=self.clock.now())
        self.events.session.expire_all()  # the bulk update bypassed loaded rows
        if owner is not None:
            for event_id in replayed:
                await self.history.record_mutation(
                    Subject(owner.merchant_id, owner.livemode, "webhook_event", event_id),
                    "webhook_event.replay",
                    actor,
                )
        _log.info("webhook.replayed", events=len(replayed), actor=actor.kind)
        return replayed
