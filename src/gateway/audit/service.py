"""Writing history: an event per state change, an audit row per API mutation.

Both are written by the caller's session, so they commit (or roll back) with the
change they describe (DESIGN.md invariant 7).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry, Event
from gateway.audit.repository import AuditRepository, EventRepository
from gateway.core.clock import Clock
from gateway.core.ids import new_id

ActorKind = Literal["api", "webhook", "reconciliation", "billing", "operator", "system"]
ObjectType = Literal[
    "transaction",
    "payment_method",
    "subscription",
    "invoice",
    "webhook_event",
    "webhook_endpoint",
    "webhook_delivery",
]


@dataclass(frozen=True)
class Actor:
    """Who causes a change: the API on behalf of a key, a webhook, a job, a person."""

    kind: ActorKind
    request_id: str | None = None
    api_key_id: str | None = None
    ip_address: str | None = None


@dataclass(frozen=True)
class Subject:
    """The object a change happens to, with its tenant and mode."""

    merchant_id: str
    livemode: bool
    object_type: ObjectType
    object_id: str


@dataclass(frozen=True)
class Change:
    subject: Subject
    from_status: str | None
    to_status: str
    reason: str | None = None
    # See `Event.occasion`: set when the status alone does not say what happened.
    occasion: str | None = None
    related_id: str | None = None


class HistoryService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.clock = clock
        self.events = EventRepository(session)
        self.audit = AuditRepository(session)

    async def record_change(
        self, change: Change, actor: Actor, *, held_until_movement: str | None = None
    ) -> Event:
        """`held_until_movement`: the change is a money movement's phase 1, whose
        event waits until the movement finishes (`release_movement`)."""
        subject = change.subject
        event = Event(
            id=new_id("evt"),
            merchant_id=subject.merchant_id,
            livemode=subject.livemode,
            object_type=subject.object_type,
            object_id=subject.object_id,
            from_status=change.from_status,
            to_status=change.to_status,
            actor=actor.kind,
            reason=change.reason,
            request_id=actor.request_id,
            created_at=self.clock.now(),
            published_at=None,
            held_until_movement=held_until_movement,
            suppressed=False,
            occasion=change.occasion,
            related_id=change.related_id,
        )
        return await self.events.append(event)

    async def record_creations(self, changes: Sequence[Change], actor: Actor) -> None:
        """The first events of objects this transaction inserted (a batch of new
        invoices), in one statement: nothing came before them, so each is the
        object's sequence 1 and no per-object `max(sequence)` is needed."""
        now = self.clock.now()
        await self.events.append_first(
            [
                Event(
                    id=new_id("evt"),
                    merchant_id=change.subject.merchant_id,
                    livemode=change.subject.livemode,
                    object_type=change.subject.object_type,
                    object_id=change.subject.object_id,
                    sequence=1,
                    from_status=change.from_status,
                    to_status=change.to_status,
                    actor=actor.kind,
                    reason=change.reason,
                    request_id=actor.request_id,
                    created_at=now,
                    published_at=None,
                    held_until_movement=None,
                    suppressed=False,
                    occasion=change.occasion,
                    related_id=change.related_id,
                )
                for change in changes
            ]
        )

    async def hold_objects(self, object_ids: Sequence[str], *, movement_id: str) -> None:
        await self.events.hold_objects(object_ids, movement_id=movement_id)

    async def suppress_objects(self, object_ids: Sequence[str]) -> None:
        await self.events.suppress_objects(object_ids)

    async def release_movement(self, movement_id: str) -> None:
        """Called by the commit that takes a movement out of flight (see
        `EventRepository.release_movement`)."""
        await self.events.release_movement(movement_id)

    async def record_mutation(
        self,
        subject: Subject,
        action: str,
        actor: Actor,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """One row per mutating API request. `details` holds ids and codes only."""
        entry = AuditEntry(
            id=new_id("aud"),
            merchant_id=subject.merchant_id,
            livemode=subject.livemode,
            api_key_id=actor.api_key_id,
            action=action,
            object_type=subject.object_type,
            object_id=subject.object_id,
            request_id=actor.request_id,
            ip_address=actor.ip_address,
            details=dict(details or {}),
            created_at=self.clock.now(),
        )
        return await self.audit.add(entry)

    async def latest(self, object_id: str) -> Event | None:
        return await self.events.latest(object_id)

    async def history(self, merchant_id: str, object_id: str) -> list[Event]:
        return await self.events.for_object(merchant_id, object_id)
