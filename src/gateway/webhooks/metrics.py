"""Metrics of inbound webhooks.

Counters are incremented where the work happens: receipt in the API process,
processing in workers. Workers' samples reach the API's /metrics through
prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, which `gateway
up` sets for its children). The dead-letter backlog does not depend on that: it
is counted in PostgreSQL when scraped, so it is right after any restart and
whichever process marked the events dead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.webhooks.repository import WebhookEventRepository
from gateway.webhooks.schemas import EVENT_STATUSES

if TYPE_CHECKING:
    from gateway.core.handles import ProcessHandles

RECEIVED = Counter(
    "gateway_webhooks_received_total",
    "Inbound processor webhooks by source, event type and result"
    " (accepted, duplicate, invalid_signature, invalid_payload).",
    ["source", "event_type", "result"],
)
PROCESSED = Counter(
    "gateway_webhook_events_processed_total",
    "Inbound events processed by workers, by source and outcome"
    " (applied, unchanged, unmatched, ignored).",
    ["source", "outcome"],
)
FAILED_ATTEMPTS = Counter(
    "gateway_webhook_processing_failures_total",
    "Failed processing attempts of inbound events (each retried on the schedule).",
    ["source"],
)
DEAD_LETTERS = Counter(
    "gateway_webhook_dead_letters_total",
    "Inbound events that failed their last attempt and are kept as dead.",
    ["source"],
)
LAG = Histogram(
    "gateway_webhook_lag_seconds",
    "From receipt of an inbound event to its processing.",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 21600),
)

# ANET.md §6: the event types a label may take; anything else is "other", so a
# sender cannot grow the label set.
KNOWN_EVENT_TYPES: Final = frozenset(
    {
        *(
            f"net.authorize.payment.{name}"
            for name in (
                "authcapture.created",
                "authorization.created",
                "capture.created",
                "priorAuthCapture.created",
                "refund.created",
                "void.created",
                "fraud.held",
                "fraud.approved",
                "fraud.declined",
            )
        ),
        *(f"net.authorize.customer.{name}" for name in ("created", "updated", "deleted")),
        *(
            f"net.authorize.customer.paymentProfile.{name}"
            for name in ("created", "updated", "deleted")
        ),
        *(
            f"net.authorize.customer.subscription.{name}"
            for name in (
                "created",
                "updated",
                "suspended",
                "terminated",
                "cancelled",
                "expiring",
                "expired",
                "failed",
            )
        ),
    }
)


def event_type_label(event_type: str | None) -> str:
    if event_type is None:
        return "unknown"  # not read: the body was not verified or not readable
    return event_type if event_type in KNOWN_EVENT_TYPES else "other"


async def webhook_backlog(session: AsyncSession, resources: ProcessHandles) -> list[Metric]:
    """gateway_webhook_events{status}: stored events by status, dead letters included."""
    counts = await WebhookEventRepository(session).count_by_status()
    family = GaugeMetricFamily(
        "gateway_webhook_events",
        "Inbound processor events stored, by status (dead: retries exhausted).",
        labels=["status"],
    )
    for status in EVENT_STATUSES:
        family.add_metric([status], counts.get(status, 0))
    return [family]
