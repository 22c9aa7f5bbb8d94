"""A merchant's whole outbound loop on real commits (issue 18): an endpoint made
through the API, payments through the API, the outbox relay and the delivery
sweep as RQ runs them (their own engines, configured from the environment), and
a receiver that verifies every request with `standardwebhooks`. What arrives is
each event once, signed, in sequence order, carrying the object as its GET
returns it now, and no card data; after a rotation each request carries two
signatures, one per secret, both verifying."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from redis import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from gateway.webhooks.outbound.models import WebhookDeliveryAttempt
from jobs.deliveries import deliver_due
from jobs.outbox import relay_outbox
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import VISA, charge_body
from tests.support import http_client, run_in_thread
from tests.webhooks.outbound.receiver import Receiver


@pytest.fixture
async def committed_client(
    settings: Settings,
    resources: Resources,
    committed_engine: AsyncEngine,
    wall_clock: FrozenClock,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API on sessions that really commit, so the jobs' own engines see its rows,
    and on today's time, which the jobs' clocks read (a rotation's overlap is 24 h
    of it)."""
    committed = dataclasses.replace(
        resources,
        session_factory=async_sessionmaker(committed_engine, expire_on_commit=False),
        clock=wall_clock,
    )
    app: Litestar = create_app(settings, resources=committed)
    async with http_client(app) as client:
        yield client


def run_jobs() -> None:
    """What cron and the fan-out's jobs do: relay, then sweep what is due."""
    run_in_thread(lambda: asyncio.run(relay_outbox()))
    run_in_thread(lambda: asyncio.run(deliver_due()))


async def test_a_merchant_hears_each_payment_event_once_signed_in_order_as_get_shows_it(
    committed_client: httpx.AsyncClient,
    make_committed_key: KeyFactory,
    job_environment: Redis,
    receiver: Receiver,
    committed_engine: AsyncEngine,
) -> None:
    headers = {"Authorization": f"Bearer {await make_committed_key(Scope.ADMIN)}"}
    created = await committed_client.post(
        "/api/v1/webhook-endpoints",
        json={"url": receiver.url("/hooks"), "events": ["payment.captured", "payment.refunded"]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    endpoint: dict[str, Any] = created.json()
    receiver.verify_with("/hooks", [endpoint["secret"]])

    async def pay(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = await committed_client.post(
            f"/api/v1/payments/{path}", json=body, headers={**headers, "Idempotency-Key": key}
        )
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    purchase = await pay("purchase", charge_body(2000), "journey-purchase")
    # Unsettled, a purchase is refunded whole.
    await pay("refund", {"transaction_id": purchase["id"], "amount": 2000}, "journey-refund")
    run_jobs()
    run_jobs()  # again: nothing is sent twice

    # One endpoint's deliveries may be in flight together and arrive in either
    # order (API.md: a receiver orders them by `sequence`).
    requests = sorted(
        receiver.at("/hooks"), key=lambda request: json.loads(request.body)["sequence"]
    )
    bodies = [json.loads(request.body) for request in requests]
    assert [body["type"] for body in bodies] == ["payment.captured", "payment.refunded"]
    assert all(request.verified == (True,) for request in requests)
    assert [request.headers["webhook-id"] for request in requests] == [b["id"] for b in bodies]
    sequences = [body["sequence"] for body in bodies]
    assert sequences == sorted(set(sequences))
    shown = await committed_client.get(f"/api/v1/payments/{purchase['id']}", headers=headers)
    # Rendered when sent: both carry the purchase as it stands after the refund.
    assert all(body["data"]["object"] == shown.json() for body in bodies)
    assert bodies[1]["data"]["object"]["amount_refunded"] == 2000
    assert not any(VISA in request.body.decode() for request in requests)

    listed = await committed_client.get(
        f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=headers
    )
    assert {(d["status"], d["attempts"]) for d in listed.json()["data"]} == {("succeeded", 1)}

    rotated = await committed_client.post(
        f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=headers
    )
    assert rotated.status_code == 200, rotated.text
    receiver.verify_with("/hooks", [endpoint["secret"], rotated.json()["secret"]])
    second = await pay("purchase", charge_body(700), "journey-second")
    run_jobs()
    last = receiver.at("/hooks")[-1]
    assert json.loads(last.body)["data"]["object"]["id"] == second["id"]
    assert len(last.headers["webhook-signature"].split(" ")) == 2
    assert last.verified == (True, True), "a receiver holding either secret verifies"

    async with AsyncSession(committed_engine) as session:
        excerpts = (await session.scalars(select(WebhookDeliveryAttempt.response_excerpt))).all()
    assert len(excerpts) == 3
    assert not any(VISA in (excerpt or "") for excerpt in excerpts)
