"""Billing metrics: renewals by outcome and dunning attempts (counters where the
charges run), subscriptions by status and the billing lag (counted in PostgreSQL
when /metrics is scraped)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from prometheus_client import REGISTRY

from gateway.core.clock import FrozenClock
from tests.payments.test_backlog_metrics import samples
from tests.subscriptions.conftest import Api, Billing, Clocks
from tests.subscriptions.test_billing import at


def counted(name: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(name, {"outcome": outcome}) or 0.0


def subscriptions(status: str) -> tuple[str, tuple[Any, ...]]:
    return ("gateway_subscriptions", (("livemode", "false"), ("status", status)))


LAG = ("gateway_billing_lag_seconds", ())


async def test_subscriptions_by_status_and_the_billing_lag(
    client: httpx.AsyncClient, api: Api, clocks: Clocks, clock: FrozenClock
) -> None:
    active = await api.subscribe()
    await api.subscribe(trial_days=3)
    on_clock = await api.subscribe(test_clock_id=await clocks.create("2020-01-01T00:00:00Z"))
    assert on_clock["next_billing_at"] == "2020-02-01T00:00:00Z"  # long due, in its own time

    clock.set(at(active["next_billing_at"]) + timedelta(hours=1))
    found = await samples(client)
    assert found[subscriptions("active")] == 2
    assert found[subscriptions("trialing")] == 1
    assert found[subscriptions("canceled")] == 0
    assert found[("gateway_subscriptions", (("livemode", "true"), ("status", "active")))] == 0
    # The trial ended two weeks before; the renewal an hour ago. The test clock's
    # subscription is not late: it waits for its clock.
    trial_end = at(active["created_at"]) + timedelta(days=3)
    assert found[LAG] == (clock.now() - trial_end).total_seconds()


async def test_an_empty_billing_shows_zero_lag(client: httpx.AsyncClient) -> None:
    found = await samples(client)
    assert found[LAG] == 0
    assert found[subscriptions("active")] == 0


async def test_renewals_and_dunning_attempts_are_counted_by_outcome(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    before = {
        (name, outcome): counted(name, outcome)
        for name in ("gateway_billing_renewals_total", "gateway_billing_dunning_attempts_total")
        for outcome in ("paid", "declined")
    }
    paying = await api.subscribe()
    method = await api.payment_method()
    failing = await api.subscribe(method)
    await billing.script(method, "decline,decline")
    clock.set(at(paying["next_billing_at"]))
    await billing.run()
    await billing.run(now=True)  # the failing one's first retry, now

    def delta(name: str, outcome: str) -> float:
        return counted(name, outcome) - before[(name, outcome)]

    assert delta("gateway_billing_renewals_total", "paid") == 1
    assert delta("gateway_billing_renewals_total", "declined") == 1
    assert delta("gateway_billing_dunning_attempts_total", "declined") == 1
    assert delta("gateway_billing_dunning_attempts_total", "paid") == 0
    assert (await api.one(failing["id"]))["failed_attempts"] == 2
