"""Metrics of recurring billing.

Charges happen in workers (and in `gateway billing run`, and in a test clock's
advance): their counters reach the API's /metrics through prometheus-client's
multiprocess mode, like the webhooks' (PROMETHEUS_MULTIPROC_DIR, set by `gateway
up` for its children). What the tables hold (subscriptions by status, how late
billing runs) is counted in PostgreSQL when scraped, so it is right whichever
process changed the rows and after any restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.subscriptions.repository import SubscriptionRepository
from gateway.subscriptions.states import SubscriptionStatus

if TYPE_CHECKING:
    from gateway.core.handles import ProcessHandles

RENEWALS: Final = Counter(
    "gateway_billing_renewals_total",
    "First charge attempts of a billed period (renewals and trial ends), by outcome"
    " (paid, declined, postponed, pending, error); pending ones are resolved by"
    " reconciliation.",
    ["outcome"],
)
DUNNING_ATTEMPTS: Final = Counter(
    "gateway_billing_dunning_attempts_total",
    "Retries of an unpaid invoice after a failed attempt, by outcome.",
    ["outcome"],
)


def count_charge(outcome: str, *, retry: bool) -> None:
    (DUNNING_ATTEMPTS if retry else RENEWALS).labels(outcome=outcome).inc()


async def billing_gauges(session: AsyncSession, resources: ProcessHandles) -> list[Metric]:
    """gateway_subscriptions{status, livemode} and gateway_billing_lag_seconds: now
    minus the oldest next billing date that has come and not been billed yet
    (wall-clock subscriptions only; test clocks keep their own time)."""
    repository = SubscriptionRepository(session)
    counts = await repository.count_by_status()
    by_status = GaugeMetricFamily(
        "gateway_subscriptions",
        "Subscriptions by status and mode.",
        labels=["status", "livemode"],
    )
    for status in SubscriptionStatus:
        for livemode in (False, True):
            by_status.add_metric(
                [status.value, str(livemode).lower()], counts.get((status.value, livemode), 0)
            )
    now = resources.clock.now()
    oldest = await repository.oldest_due(now=now)
    lag = GaugeMetricFamily(
        "gateway_billing_lag_seconds",
        "Now minus the oldest next_billing_at that is due and not billed yet (0: none).",
        value=(now - oldest).total_seconds() if oldest is not None else 0.0,
    )
    return [by_status, lag]
