"""Metrics of outbound deliveries (issue 18 point 6, ops/runbook.md "Webhook
deliveries").

Attempts and latency are counted by the worker that makes them (multiprocess
mode brings them to the API's /metrics). What PostgreSQL holds — dead
deliveries, disabled endpoints, the oldest delivery still waiting for its first
attempt's end — is counted when scraped, so it is right after any restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.webhooks.outbound.event_types import EVENT_TYPES
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from gateway.core.handles import ProcessHandles

ATTEMPTS = Counter(
    "gateway_webhook_delivery_attempts_total",
    "Attempts of outbound deliveries by outcome (succeeded, failed: a retry is"
    " scheduled, dead: that was the last) and event type.",
    ["outcome", "event_type"],
)
LATENCY = Histogram(
    "gateway_webhook_delivery_latency_seconds",
    "From the event's commit to its delivery's success (retries included).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 86400, 345600),
)


def event_type_label(event_type: str) -> str:
    return event_type if event_type in EVENT_TYPES else "other"


async def delivery_gauges(session: AsyncSession, resources: ProcessHandles) -> list[Metric]:
    """Dead deliveries, disabled endpoints, and the age of the oldest delivery
    still pending on an enabled endpoint (0: none)."""
    dead = await session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "dead")
    )
    disabled = await session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.disabled)
    )
    oldest = await session.scalar(
        select(func.min(WebhookDelivery.created_at))
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.status == "pending", WebhookEndpoint.disabled.is_(False))
    )
    age = max(0.0, (resources.clock.now() - oldest).total_seconds()) if oldest else 0.0
    return [
        GaugeMetricFamily(
            "gateway_webhook_deliveries_dead",
            "Outbound deliveries that failed their last attempt.",
            value=dead or 0,
        ),
        GaugeMetricFamily(
            "gateway_webhook_endpoints_disabled",
            "Merchant webhook endpoints disabled (by the merchant, 410 Gone or 5 days failing).",
            value=disabled or 0,
        ),
        GaugeMetricFamily(
            "gateway_webhook_delivery_oldest_pending_seconds",
            "Age of the oldest delivery whose first attempt has not ended, on an"
            " enabled endpoint (0: none).",
            value=age,
        ),
    ]
