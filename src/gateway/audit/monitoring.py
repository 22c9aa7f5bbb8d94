"""Gauges of the outbox, counted in PostgreSQL when scraped: events written but not
yet relayed to RQ (ops/runbook.md, "Outbox lag")."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.repository import EventRepository

if TYPE_CHECKING:
    from gateway.core.handles import ProcessHandles


async def outbox_backlog(session: AsyncSession, resources: ProcessHandles) -> list[Metric]:
    count, oldest = await EventRepository(session).unpublished()
    age = (resources.clock.now() - oldest).total_seconds() if oldest else 0
    return [
        GaugeMetricFamily(
            "gateway_outbox_unpublished", "Events not yet relayed to RQ.", value=count
        ),
        GaugeMetricFamily(
            "gateway_outbox_oldest_unpublished_seconds",
            "Age of the oldest event not yet relayed (0: none).",
            value=age,
        ),
    ]
