"""Delivery metrics: attempts by outcome and event type and the latency counted
by the worker; dead deliveries, disabled endpoints and the oldest pending
delivery counted in PostgreSQL at scrape time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import REGISTRY

from gateway.core.clock import Clock
from gateway.webhooks.outbound.metrics import delivery_gauges
from tests.webhooks.outbound.conftest import Deliveries
from tests.webhooks.outbound.receiver import Answer, Receiver


@dataclass
class _Handles:
    clock: Clock


def _attempts(outcome: str, event_type: str) -> float:
    value = REGISTRY.get_sample_value(
        "gateway_webhook_delivery_attempts_total",
        {"outcome": outcome, "event_type": event_type},
    )
    return value or 0.0


async def test_attempts_are_counted_by_outcome_and_event_type(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    receiver.answer("/down", Answer(status=500))
    up, _ = await deliveries.endpoint(receiver.url("/up"))
    down, _ = await deliveries.endpoint(receiver.url("/down"))
    await deliveries.delivery(up, event_type="subscription.renewed")
    await deliveries.delivery(down, event_type="payment.voided")
    before = (_attempts("succeeded", "subscription.renewed"), _attempts("dead", "payment.voided"))

    async with deliveries.worker(webhook_delivery_schedule_s=(0,)) as worker:
        assert await worker.run() == 3

    after = (_attempts("succeeded", "subscription.renewed"), _attempts("dead", "payment.voided"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_dead_deliveries_disabled_endpoints_and_the_oldest_pending_age_are_scraped(
    deliveries: Deliveries,
) -> None:
    clock = deliveries.clock
    enabled, _ = await deliveries.endpoint("http://127.0.0.1:9/a")
    disabled, _ = await deliveries.endpoint("http://127.0.0.1:9/b", disabled=True)
    await deliveries.delivery(disabled)  # older, but its endpoint is disabled: not a backlog
    clock.advance(timedelta(seconds=30))
    await deliveries.delivery(enabled)
    dead = await deliveries.delivery(enabled)
    async with deliveries.sessions() as session:
        row = await session.get(type(dead), dead.id)
        assert row is not None
        row.status = "dead"
        await session.commit()
    clock.advance(timedelta(seconds=90))

    async with deliveries.sessions() as session:
        families = await delivery_gauges(session, _Handles(clock))  # type: ignore[arg-type]

    values = {family.name: family.samples[0].value for family in families}
    assert values == {
        "gateway_webhook_deliveries_dead": 1,
        "gateway_webhook_endpoints_disabled": 1,
        "gateway_webhook_delivery_oldest_pending_seconds": 90,
    }
