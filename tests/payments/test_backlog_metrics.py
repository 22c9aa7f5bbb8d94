"""The backlog an operator watches (ops/runbook.md), counted in PostgreSQL when
/metrics is scraped: pending transactions by reason and age, transactions that
need review, events the outbox has not relayed, and the dependencies reached."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body
from tests.support import closed_port, http_client

LOST_UNRECORDED = 90_200


async def samples(client: httpx.AsyncClient) -> dict[tuple[str, tuple[Any, ...]], float]:
    response = await client.get("/api/v1/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def pending(reason: str) -> tuple[str, tuple[Any, ...]]:
    return ("gateway_transactions_pending", (("pending_reason", reason),))


def oldest(reason: str) -> tuple[str, tuple[Any, ...]]:
    return ("gateway_transactions_pending_oldest_seconds", (("pending_reason", reason),))


async def test_an_empty_backlog_is_zeros_not_gaps(client: httpx.AsyncClient) -> None:
    found = await samples(client)
    for reason in ("in_flight", "unknown_outcome", "processor_review"):
        assert found[pending(reason)] == 0
        assert found[oldest(reason)] == 0
    assert found[("gateway_transactions_requires_review", ())] == 0
    assert found[("gateway_outbox_unpublished", ())] == 0
    assert found[("gateway_outbox_oldest_unpublished_seconds", ())] == 0
    assert found[("gateway_dependency_up", (("dependency", "database"),))] == 1
    assert found[("gateway_dependency_up", (("dependency", "redis"),))] == 1


async def test_a_lost_call_shows_as_pending_and_ages(
    client: httpx.AsyncClient, post: Post, clock: FrozenClock
) -> None:
    lost = await post("purchase", charge_body(LOST_UNRECORDED, number=TRIGGER_CARD))
    assert lost.status_code == 202
    clock.advance(timedelta(seconds=90))
    found = await samples(client)
    assert found[pending("unknown_outcome")] == 1
    assert found[oldest("unknown_outcome")] == 90
    assert found[pending("in_flight")] == 0
    # Its events wait for the relay, which no test process runs here.
    assert found[("gateway_outbox_unpublished", ())] >= 1
    assert found[("gateway_outbox_oldest_unpublished_seconds", ())] == 90


async def test_redis_out_of_reach_shows_as_down(settings: Settings, resources: Resources) -> None:
    unreachable = Redis(host="127.0.0.1", port=closed_port(), socket_connect_timeout=0.2)
    app = create_app(settings, resources=dataclasses.replace(resources, redis=unreachable))
    try:
        async with http_client(app) as client:
            found = await samples(client)
    finally:
        await unreachable.aclose()
    assert found[("gateway_dependency_up", (("dependency", "redis"),))] == 0
    assert found[("gateway_dependency_up", (("dependency", "database"),))] == 1
