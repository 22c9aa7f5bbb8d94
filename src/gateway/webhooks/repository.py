"""Every query on the inbox of processor webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.pagination import newest_first, page_of
from gateway.core.tenancy import Owner
from gateway.payments.models import Transaction
from gateway.webhooks.models import WebhookEvent


@dataclass(frozen=True)
class EventView:
    """An event as processing reads it before the processor call (no session stays
    open across that call)."""

    id: str
    status: str
    source: str
    entity_name: str | None
    entity_id: str | None
    reference: str | None
    received_at: datetime
    replays: int


_EVENTS: Final = cast("Table", WebhookEvent.__table__)
# Built once: processing locks one event per attempt.
_LOCK_STATUS: Final = (
    select(_EVENTS.c.status).where(_EVENTS.c.id == bindparam("event_id")).with_for_update()
)


class WebhookEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert_once(self, event: WebhookEvent) -> bool:
        """Insert unless (source, notification_id) is stored already; whether it was new."""
        values = {
            column.key: getattr(event, column.key) for column in WebhookEvent.__table__.columns
        }
        statement = (
            insert(WebhookEvent)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["source", "notification_id"])
            .returning(WebhookEvent.id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def find(self, source: str, notification_id: str) -> WebhookEvent | None:
        statement = select(WebhookEvent).where(
            WebhookEvent.source == source, WebhookEvent.notification_id == notification_id
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def get(
        self, event_id: str, *, owner: Owner | None = None, for_update: bool = False
    ) -> WebhookEvent | None:
        """One event; with `owner`, only one matched to that merchant and mode."""
        statement = select(WebhookEvent).where(WebhookEvent.id == event_id)
        if owner is not None:
            statement = statement.where(
                WebhookEvent.merchant_id == owner.merchant_id,
                WebhookEvent.livemode == owner.livemode,
            )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def processing_view(self, event_id: str) -> EventView | None:
        """What processing reads of an event before it calls the processor: the
        columns only (no entity, no payload)."""
        return (await self.processing_views([event_id])).get(event_id)

    async def processing_views(self, event_ids: Sequence[str]) -> dict[str, EventView]:
        """`processing_view` of several events in one statement, by id (those that exist)."""
        statement = select(
            WebhookEvent.id,
            WebhookEvent.status,
            WebhookEvent.source,
            WebhookEvent.entity_name,
            WebhookEvent.entity_id,
            WebhookEvent.reference,
            WebhookEvent.received_at,
            WebhookEvent.replays,
        ).where(WebhookEvent.id.in_(list(event_ids)))
        views = [EventView(*row) for row in (await self.session.execute(statement)).all()]
        return {view.id: view for view in views}

    async def lock_unprocessed(self, event_id: str) -> bool:
        """Lock the event's row until the transaction ends; whether it is there and
        not processed yet (a concurrent job or replay may have finished it)."""
        status = (await self.session.execute(_LOCK_STATUS, {"event_id": event_id})).scalar()
        return status is not None and status != "processed"

    async def mark_processed(
        self, event_id: str, *, outcome: str, at: datetime, charge: Transaction | None
    ) -> None:
        """Processed (the row locked by `lock_unprocessed`); matched to `charge`,
        whose merchant and mode now see the event."""
        values: dict[str, Any] = {
            "status": "processed",
            "outcome": outcome,
            "attempts": _EVENTS.c.attempts + 1,
            "last_error": None,
            "processed_at": at,
            "updated_at": at,
        }
        if charge is not None:
            values |= {
                "merchant_id": charge.merchant_id,
                "livemode": charge.livemode,
                "transaction_id": charge.id,
            }
        # On the table, not the mapped class: an ORM-enabled UPDATE autoflushes and
        # goes through the ORM's bulk machinery first, for a row no object holds.
        await self.session.execute(update(_EVENTS).where(_EVENTS.c.id == event_id).values(**values))

    async def page(
        self, *, owner: Owner | None, status: str | None, cursor: str | None, limit: int
    ) -> tuple[list[WebhookEvent], str | None]:
        statement = select(WebhookEvent)
        if owner is not None:
            statement = statement.where(
                WebhookEvent.merchant_id == owner.merchant_id,
                WebhookEvent.livemode == owner.livemode,
            )
        if status is not None:
            statement = statement.where(WebhookEvent.status == status)
        statement = newest_first(
            statement, WebhookEvent.received_at, WebhookEvent.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.received_at, row.id))

    async def ids_with_status(self, status: str, *, owner: Owner | None) -> list[str]:
        statement = select(WebhookEvent.id).where(WebhookEvent.status == status)
        if owner is not None:
            statement = statement.where(
                WebhookEvent.merchant_id == owner.merchant_id,
                WebhookEvent.livemode == owner.livemode,
            )
        statement = statement.order_by(WebhookEvent.received_at, WebhookEvent.id)
        return list((await self.session.scalars(statement)).all())

    async def replay(self, event_ids: Sequence[str], *, at: datetime) -> list[str]:
        """Back to `received` and into the outbox again, under a new job id; the ids
        replayed (of those given that exist)."""
        if not event_ids:
            return []
        statement = (
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(list(event_ids)))
            .values(
                status="received",
                outcome=None,
                processed_at=None,
                published_at=None,
                replays=WebhookEvent.replays + 1,
                updated_at=at,
            )
            .returning(WebhookEvent.id)
            .execution_options(synchronize_session=False)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def claim_unpublished(self, *, limit: int) -> list[WebhookEvent]:
        statement = (
            select(WebhookEvent)
            .where(WebhookEvent.published_at.is_(None))
            .order_by(WebhookEvent.received_at, WebhookEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())

    async def unfinished(self, *, published_before: datetime, limit: int) -> list[WebhookEvent]:
        """Events relayed before `published_before` and still waiting to be processed:
        their job may have been lost with Redis."""
        statement = (
            select(WebhookEvent)
            .where(
                WebhookEvent.status.in_(("received", "failed")),
                WebhookEvent.published_at < published_before,
            )
            .order_by(WebhookEvent.published_at, WebhookEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(statement)).all())

    async def mark_published(self, event_ids: Sequence[str], *, at: datetime) -> None:
        await self.session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(list(event_ids)))
            .values(published_at=at)
            .execution_options(synchronize_session=False)
        )

    async def record_failure(
        self, event_id: str, *, error: str, dead: bool, at: datetime
    ) -> WebhookEvent | None:
        """One more failed attempt; `dead` when no retry is left. A processed event
        (another job finished it meanwhile) stays processed."""
        statement = (
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id, WebhookEvent.status != "processed")
            .values(
                status="dead" if dead else "failed",
                attempts=WebhookEvent.attempts + 1,
                last_error=error,
                updated_at=at,
            )
            .returning(WebhookEvent)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalars().one_or_none()

    async def count_by_status(self) -> dict[str, int]:
        statement = select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)
        return {
            status: int(count) for status, count in (await self.session.execute(statement)).all()
        }
