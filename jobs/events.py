"""What happens once an event is relayed (queue `deliveries`).

Each state change is counted and logged under its dotted name here, in a worker,
out of the request's way. Outbound merchant webhooks are not sent from here: the
relay writes their deliveries in its claim (webhooks/outbound/fanout.py), and
`jobs.deliveries` sends them."""

from __future__ import annotations

import structlog
from prometheus_client import Counter

from gateway.audit.repository import EventRepository
from jobs.context import job_context

_log = structlog.get_logger("gateway.events")

EVENTS = Counter(
    "gateway_state_changes_total",
    "State changes of transactions, subscriptions and invoices, by object and new status.",
    ["object_type", "to_status"],
)


async def dispatch_event(event_id: str) -> str:
    async with job_context("dispatch_event") as job:
        event = await EventRepository(job.session).get(event_id)
        if event is None:
            return "missing"
        EVENTS.labels(event.object_type, event.to_status).inc()
        _log.info(
            f"{event.object_type}.{event.to_status}",
            event_id=event.id,
            object_id=event.object_id,
            sequence=event.sequence,
            merchant_id=event.merchant_id,
            livemode=event.livemode,
        )
        return "dispatched"
