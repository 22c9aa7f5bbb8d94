"""Gauges of the payments backlog, counted in PostgreSQL when scraped
(ops/runbook.md says what each means for an operator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.payments.repository import TransactionRepository
from gateway.payments.states import ParentStatus, PendingReason

if TYPE_CHECKING:
    from gateway.core.handles import ProcessHandles

# A pending transaction without a reason is between its request's phases: its call
# is running, or its process died and reconciliation will ask.
IN_FLIGHT = "in_flight"


async def payment_backlog(session: AsyncSession, resources: ProcessHandles) -> list[Metric]:
    repository = TransactionRepository(session)
    found = await repository.pending_by_reason()
    now = resources.clock.now()
    pending = GaugeMetricFamily(
        "gateway_transactions_pending",
        "Transactions pending, by why: in_flight, unknown_outcome, processor_review.",
        labels=["pending_reason"],
    )
    oldest = GaugeMetricFamily(
        "gateway_transactions_pending_oldest_seconds",
        "Age of the oldest pending transaction, by why (0: none).",
        labels=["pending_reason"],
    )
    for reason in (None, *PendingReason):
        count, created_at = found.get(reason, (0, None))
        label = IN_FLIGHT if reason is None else reason.value
        pending.add_metric([label], count)
        oldest.add_metric([label], (now - created_at).total_seconds() if created_at else 0)
    review = GaugeMetricFamily(
        "gateway_transactions_requires_review",
        "Transactions the gateway could not settle on its own: an operator decides.",
        value=await repository.count_in_status(ParentStatus.REQUIRES_REVIEW),
    )
    return [pending, oldest, review]
