"""Every query on events and the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry, Event
from gateway.core.rows import insert_row

_EVENTS = Event.__table__
assert isinstance(_EVENTS, Table)
# Every column but the sequence, which the statement computes.
_APPENDED = tuple(column for column in _EVENTS.columns if column.key != "sequence")
# Built once: a Core statement costs a fraction of the ORM's CPU (core/rows.py).
_RELEASE = (
    update(_EVENTS)
    .where(_EVENTS.c.held_until_movement == bindparam("movement_id"))
    .values(held_until_movement=None)
)
_APPEND = (
    insert(_EVENTS)
    .values(
        {column: bindparam(f"new_{column.key}") for column in _APPENDED}
        | {
            _EVENTS.c.sequence: select(func.coalesce(func.max(_EVENTS.c.sequence), 0) + 1)
            .where(_EVENTS.c.object_id == bindparam("new_object_id"))
            .scalar_subquery()
        }
    )
    .returning(_EVENTS.c.sequence)
)


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def append(self, event: Event) -> Event:
        """Insert with the object's next sequence number. Callers change the object's
        row in the same transaction first, so its row lock orders concurrent appends
        (flushed here: a Core statement does not autoflush); the unique (object_id,
        sequence) constraint backs that up."""
        await self.session.flush()
        values = {f"new_{column.key}": getattr(event, column.key) for column in _APPENDED}
        event.sequence = (await self.session.execute(_APPEND, values)).scalar_one()
        return event

    async def append_first(self, events: Sequence[Event]) -> None:
        """Insert the first event of each of new objects (sequence 1), in one
        statement; the unique (object_id, sequence) constraint still backs it."""
        if not events:
            return
        columns = [column.key for column in Event.__table__.columns]
        rows = [{key: getattr(event, key) for key in columns} for event in events]
        await self.session.execute(insert(Event).values(rows))

    async def for_object(self, merchant_id: str, object_id: str) -> list[Event]:
        statement = (
            select(Event)
            .where(Event.merchant_id == merchant_id, Event.object_id == object_id)
            .order_by(Event.sequence)
        )
        return list((await self.session.scalars(statement)).all())

    async def latest(self, object_id: str) -> Event | None:
        """The object's last event (the highest sequence), if any."""
        statement = (
            select(Event)
            .where(Event.object_id == object_id)
            .order_by(Event.sequence.desc())
            .limit(1)
        )
        return (await self.session.scalars(statement)).first()

    async def get(self, event_id: str) -> Event | None:
        return await self.session.get(Event, event_id)

    async def claim_unpublished(self, *, limit: int) -> list[Event]:
        """The oldest events the relay may ship, locked (SKIP LOCKED: relays never
        share a row): not yet relayed, held by no movement still in flight, and
        not suppressed."""
        statement = (
            select(Event)
            .where(
                Event.published_at.is_(None),
                Event.held_until_movement.is_(None),
                Event.suppressed.is_(False),
            )
            .order_by(Event.created_at, Event.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Event)
        )
        return list((await self.session.scalars(statement)).all())

    async def hold_objects(self, object_ids: Sequence[str], *, movement_id: str) -> None:
        """Hold the unrelayed events of objects a movement's phase 1 wrote before the
        movement's own transaction existed (a subscription and its first invoice)."""
        await self.session.execute(
            update(Event)
            .where(
                Event.object_id.in_(list(object_ids)),
                Event.published_at.is_(None),
                Event.held_until_movement.is_(None),
            )
            .values(held_until_movement=movement_id)
        )

    async def release_movement(self, movement_id: str) -> None:
        """The movement is no longer in flight: every event it held may go out with
        the commit that finished it (its phase 3, or whoever finished it instead:
        reconciliation, a processor's webhook). The only place a hold is cleared."""
        await self.session.execute(_RELEASE, {"movement_id": movement_id})

    async def suppress_objects(self, object_ids: Sequence[str]) -> None:
        """Never deliver the events of objects that never came to be for clients
        (API.md: a declined first charge creates no subscription). Kept, not
        deleted: `sequence` only goes up, and the history stays whole."""
        await self.session.execute(
            update(Event).where(Event.object_id.in_(list(object_ids))).values(suppressed=True)
        )

    async def unpublished(self) -> tuple[int, datetime | None]:
        """Events still to be relayed (held ones included: they go out once their
        movement finishes): how many, and when the oldest was written."""
        row = (
            await self.session.execute(
                select(func.count(), func.min(Event.created_at)).where(
                    Event.published_at.is_(None), Event.suppressed.is_(False)
                )
            )
        ).one()
        return int(row[0]), row[1]

    async def mark_published(self, event_ids: Sequence[str], *, at: datetime) -> None:
        await self.session.execute(
            update(Event).where(Event.id.in_(list(event_ids))).values(published_at=at)
        )


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, entry: AuditEntry) -> AuditEntry:
        """Written, never changed: a Core INSERT, the entry left untracked."""
        await insert_row(self.session, entry)
        return entry

    async def for_object(self, merchant_id: str, object_id: str) -> list[AuditEntry]:
        statement = (
            select(AuditEntry)
            .where(AuditEntry.merchant_id == merchant_id, AuditEntry.object_id == object_id)
            .order_by(AuditEntry.created_at, AuditEntry.id)
        )
        return list((await self.session.scalars(statement)).all())
