"""The circuit breaker over HTTP: an open breaker refuses before anything is written."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.payments.models import Transaction
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body


async def test_over_http_an_open_breaker_answers_503_and_records_nothing(
    post: Post,
    client: httpx.AsyncClient,
    simulator: Simulator,
    clock: FrozenClock,
    db_session: AsyncSession,
) -> None:
    await simulator.outage.turn(on=True)
    for attempt in range(5):  # GATEWAY_BREAKER_FAIL_MAX
        unreachable = await post("purchase", charge_body(1500), key=f"down-{attempt}")
        assert unreachable.status_code == 503
        assert unreachable.json()["transaction_id"], "an attempt that reached phase 2 is kept"
    recorded = await db_session.scalar(select(func.count()).select_from(Transaction))
    refused = await post("purchase", charge_body(1500), key="refused")
    assert refused.status_code == 503
    assert refused.json()["code"] == "processor_unavailable"
    assert int(refused.headers["retry-after"]) >= 1
    assert "transaction_id" not in refused.json()
    assert await db_session.scalar(select(func.count()).select_from(Transaction)) == recorded
    health = (await client.get("/api/v1/health")).json()
    assert health["checks"]["processor"] == "open"
    assert health["status"] == "ok", "the breaker is information only"

    await simulator.outage.turn(on=False)
    clock.advance(timedelta(seconds=30))  # GATEWAY_BREAKER_RESET_S
    assert (await client.get("/api/v1/health")).json()["checks"]["processor"] == "half_open"
    again = await post("purchase", charge_body(1500), key="refused")
    assert again.status_code == 201, "the key was not consumed; the trial call closes it"
    assert (await client.get("/api/v1/health")).json()["checks"]["processor"] == "closed"


async def test_over_http_the_903_trigger_is_retried_then_503(post: Post) -> None:
    response = await post("purchase", charge_body(90300, number=TRIGGER_CARD))
    assert response.status_code == 503
    assert response.json()["code"] == "processor_unavailable"


async def test_the_breaker_state_is_a_metric(
    post: Post, client: httpx.AsyncClient, simulator: Simulator
) -> None:
    def states(text: str) -> dict[str, float]:
        return {
            sample.labels["state"]: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "gateway_processor_circuit_state"
        }

    assert states((await client.get("/api/v1/metrics")).text) == {
        "closed": 1.0,
        "open": 0.0,
        "half_open": 0.0,
    }
    await simulator.outage.turn(on=True)
    for attempt in range(5):
        await post("purchase", charge_body(1500), key=f"metric-{attempt}")
    assert states((await client.get("/api/v1/metrics")).text)["open"] == 1.0


async def _gateway(environment: dict[str, str], *arguments: str) -> int:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", *arguments,
        env=environment, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(process.wait(), timeout=60)


async def test_an_outage_switched_by_another_process_opens_then_closes_the_breaker(
    post: Post,
    client: httpx.AsyncClient,
    clock: FrozenClock,
    database_url: str,
    test_redis_url: str,
) -> None:
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")},
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
    }
    assert await _gateway(environment, "simulator", "outage", "on") == 0
    for attempt in range(5):
        assert (await post("purchase", charge_body(1500), key=f"o-{attempt}")).status_code == 503
    assert (await client.get("/api/v1/health")).json()["checks"]["processor"] == "open"
    assert await _gateway(environment, "simulator", "outage", "off") == 0
    clock.advance(timedelta(seconds=30))
    assert (await post("purchase", charge_body(1500))).status_code == 201
    assert (await client.get("/api/v1/health")).json()["checks"]["processor"] == "closed"
