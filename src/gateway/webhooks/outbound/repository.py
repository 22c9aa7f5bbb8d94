"""Every query of the endpoints API and the operators' commands on endpoints and
their deliveries. `owner` None is an operator's view (every merchant, both modes);
otherwise only that merchant's rows in that mode exist."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.pagination import newest_first, page_of
from gateway.core.tenancy import Owner
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint

# What recovery re-sends: deliveries that gave up or wait for a retry.
RECOVERABLE = ("failed", "dead")


@dataclass(frozen=True)
class DeliveryFilters:
    endpoint_id: str | None = None
    status: str | None = None
    event_type: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


def _owned(statement: Select[Any], model: Any, owner: Owner | None) -> Select[Any]:
    if owner is None:
        return statement
    return statement.where(model.merchant_id == owner.merchant_id, model.livemode == owner.livemode)


class EndpointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, endpoint: WebhookEndpoint) -> None:
        self.session.add(endpoint)

    async def get(
        self, endpoint_id: str, *, owner: Owner | None, for_update: bool = False
    ) -> WebhookEndpoint | None:
        statement = _owned(
            select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id),
            WebhookEndpoint,
            owner,
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def page(
        self, *, owner: Owner | None, merchant_id: str | None = None, cursor: str | None, limit: int
    ) -> tuple[list[WebhookEndpoint], str | None]:
        statement = _owned(select(WebhookEndpoint), WebhookEndpoint, owner)
        if merchant_id is not None:
            statement = statement.where(WebhookEndpoint.merchant_id == merchant_id)
        statement = newest_first(
            statement, WebhookEndpoint.created_at, WebhookEndpoint.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        """The endpoint and, by the foreign keys' cascade, its deliveries and attempts."""
        await self.session.execute(
            delete(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint.id)
            .execution_options(synchronize_session=False)
        )
        self.session.expunge(endpoint)


class DeliveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(
        self, delivery_id: str, *, owner: Owner | None, for_update: bool = False
    ) -> WebhookDelivery | None:
        statement = _owned(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id),
            WebhookDelivery,
            owner,
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def page(
        self, filters: DeliveryFilters, *, owner: Owner | None, cursor: str | None, limit: int
    ) -> tuple[list[WebhookDelivery], str | None]:
        statement = _owned(select(WebhookDelivery), WebhookDelivery, owner)
        if filters.endpoint_id is not None:
            statement = statement.where(WebhookDelivery.endpoint_id == filters.endpoint_id)
        if filters.status is not None:
            statement = statement.where(WebhookDelivery.status == filters.status)
        if filters.event_type is not None:
            statement = statement.where(WebhookDelivery.event_type == filters.event_type)
        if filters.created_gte is not None:
            statement = statement.where(WebhookDelivery.created_at >= filters.created_gte)
        if filters.created_lt is not None:
            statement = statement.where(WebhookDelivery.created_at < filters.created_lt)
        statement = newest_first(
            statement, WebhookDelivery.created_at, WebhookDelivery.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))

    async def requeue(self, delivery_ids: Sequence[str], *, at: datetime) -> list[str]:
        """Due at `at`, with the attempts made so far kept; skips a delivery whose
        attempt is in flight (its lease runs past `at`). The ids requeued."""
        if not delivery_ids:
            return []
        statement = (
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(list(delivery_ids)),
                (WebhookDelivery.leased_until.is_(None)) | (WebhookDelivery.leased_until <= at),
            )
            .values(status="pending", next_attempt_at=at, updated_at=at)
            .returning(WebhookDelivery.id)
            # Loaded rows get the new values too (a caller answers with them).
            .execution_options(synchronize_session="fetch")
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def recoverable_ids(
        self, endpoint_id: str, *, since: datetime, until: datetime
    ) -> list[str]:
        """The endpoint's failed or dead deliveries created in [since, until), oldest first."""
        statement = (
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status.in_(RECOVERABLE),
                WebhookDelivery.created_at >= since,
                WebhookDelivery.created_at < until,
            )
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
        return list((await self.session.scalars(statement)).all())
