"""History events become deliveries, in the relay's claim transaction.

`EventOutbox` calls `DeliveryFanout.fan_out` with each batch it claims (only
events no longer held by a money movement, never suppressed ones), in the same
transaction that marks them published: a relay that dies before its commit
leaves the events unclaimed and no delivery written, and one that ships an
event twice writes its deliveries once (unique endpoint and event, ON CONFLICT
DO NOTHING). A few queries per batch, never one per event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch
from gateway.core.ids import new_id
from gateway.payments.models import Transaction
from gateway.webhooks.outbound.event_types import subscribed
from gateway.webhooks.outbound.mapping import event_type_of
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint

DELIVER_JOB = "jobs.deliveries.deliver_due"
DELIVER_QUEUE = "deliveries"
# Rows per INSERT: well under PostgreSQL's 32,767 bind parameters.
_CHUNK = 1000


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


class DeliveryFanout:
    """One `whd_` delivery per event that has an outbound type and per enabled
    endpoint of its merchant and mode subscribed to that type."""

    async def fan_out(
        self, session: AsyncSession, events: Sequence[Event], *, now: datetime
    ) -> list[Dispatch]:
        typed = await self._typed(session, events)
        if not typed:
            return []
        endpoints = await self._endpoints(session, typed)
        rows = [
            self._row(event, event_type, endpoint, now)
            for event, event_type in typed
            for endpoint in endpoints.get((event.merchant_id, event.livemode), [])
            if subscribed(endpoint.events, event_type)
        ]
        written: set[str] = set()
        for chunk in _chunks(rows):
            statement = (
                insert(WebhookDelivery)
                .values(chunk)
                .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
                .returning(WebhookDelivery.event_id)
            )
            written.update((await session.scalars(statement)).all())
        first = next((event.id for event, _ in typed if event.id in written), None)
        if first is None:
            return []
        # Sent at once by a worker; the sweep finds them anyway if this job is lost.
        return [
            Dispatch(
                job_id=f"deliver-{first}",
                event_id=first,
                queue=DELIVER_QUEUE,
                function=DELIVER_JOB,
            )
        ]

    @staticmethod
    async def _typed(session: AsyncSession, events: Sequence[Event]) -> list[tuple[Event, str]]:
        """The events merchants are told of, with their types, in the batch's order."""
        transaction_ids = {e.object_id for e in events if e.object_type == "transaction"}
        kinds: dict[str, str] = {}
        if transaction_ids:
            found = await session.execute(
                select(Transaction.id, Transaction.type).where(Transaction.id.in_(transaction_ids))
            )
            kinds = {row.id: row.type for row in found}
        typed: list[tuple[Event, str]] = []
        for event in events:
            event_type = event_type_of(event, transaction_type=kinds.get(event.object_id))
            if event_type is not None:
                typed.append((event, event_type))
        return typed

    @staticmethod
    async def _endpoints(
        session: AsyncSession, typed: Sequence[tuple[Event, str]]
    ) -> dict[tuple[str, bool], list[WebhookEndpoint]]:
        tenants = {(event.merchant_id, event.livemode) for event, _ in typed}
        found = await session.scalars(
            select(WebhookEndpoint)
            .where(
                tuple_(WebhookEndpoint.merchant_id, WebhookEndpoint.livemode).in_(tenants),
                WebhookEndpoint.disabled.is_(False),
            )
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
        by_tenant: dict[tuple[str, bool], list[WebhookEndpoint]] = {}
        for endpoint in found:
            by_tenant.setdefault((endpoint.merchant_id, endpoint.livemode), []).append(endpoint)
        return by_tenant

    @staticmethod
    def _row(
        event: Event, event_type: str, endpoint: WebhookEndpoint, now: datetime
    ) -> dict[str, Any]:
        return {
            "id": new_id("whd"),
            "merchant_id": event.merchant_id,
            "livemode": event.livemode,
            "endpoint_id": endpoint.id,
            "event_id": event.id,
            "event_type": event_type,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "sequence": event.sequence,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
