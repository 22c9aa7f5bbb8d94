"""Every query on events and the audit log."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry, Event


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, event: Event) -> Event:
        """Insert with the object's next sequence number. Callers change the object's
        row in the same transaction first, so its row lock orders concurrent appends;
        the unique (object_id, sequence) constraint backs that up."""
        next_sequence = (
            select(func.coalesce(func.max(Event.sequence), 0) + 1)
            .where(Event.object_id == event.object_id)
            .scalar_subquery()
        )
        values = {
            column.key: getattr(event, column.key)
            for column in Event.__table__.columns
            if column.key != "sequence"
        }
        statement = insert(Event).values(**values, sequence=next_sequence).returning(Event.sequence)
        event.sequence = (await self.session.execute(statement)).scalar_one()
        return event

    async def for_object(self, merchant_id: str, object_id: str) -> list[Event]:
        statement = (
            select(Event)
            .where(Event.merchant_id == merchant_id, Event.object_id == object_id)
            .order_by(Event.sequence)
        )
        return list((await self.session.scalars(statement)).all())


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, entry: AuditEntry) -> AuditEntry:
        self.session.add(entry)
        await self.session.flush()
        return entry

    async def for_object(self, merchant_id: str, object_id: str) -> list[AuditEntry]:
        statement = (
            select(AuditEntry)
            .where(AuditEntry.merchant_id == merchant_id, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.created_at, AuditEntry.id)
        )
        return list((await self.session.scalars(statement)).all())
