"""Test clocks over HTTP (API.md "Test clocks"): create, get, advance, delete; test
keys only; at most 100 subscriptions a clock; the wall clock never bills them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.app import create_app
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.merchants.service import MerchantService
from gateway.subscriptions.clocks.service import MAX_SUBSCRIPTIONS
from gateway.subscriptions.models import Subscription
from tests.fixtures.merchants import KeyFactory
from tests.subscriptions.conftest import (
    ALL_SCOPES,
    START,
    TRIGGER_CARD,
    Api,
    Billing,
    Clocks,
    new_subscription,
)
from tests.support import http_client


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_clock_is_created_read_and_advanced(clocks: Clocks) -> None:
    created = await clocks.post("2026-03-01T12:00:00+02:00")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("clock_")
    assert len(body["id"]) == 22
    assert (body["object"], body["status"], body["livemode"]) == ("test_clock", "ready", False)
    assert body["frozen_time"] == START  # in UTC

    fetched = await clocks.get(body["id"])
    assert (fetched.status_code, fetched.json()) == (200, body)

    advanced = await clocks.to(body["id"], "2026-04-01T00:00:00Z")
    assert advanced["frozen_time"] == "2026-04-01T00:00:00Z"
    assert (await clocks.get(body["id"])).json()["frozen_time"] == "2026-04-01T00:00:00Z"


@pytest.mark.parametrize("target", [START, "2026-02-28T10:00:00Z"])
async def test_advancing_to_a_time_not_after_the_clock_is_a_400(
    clocks: Clocks, target: str
) -> None:
    clock_id = await clocks.create()
    response = await clocks.advance(clock_id, target)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == "frozen_time"
    assert (await clocks.get(clock_id)).json()["frozen_time"] == START


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"frozen_time": "2026-03-01T10:00:00"},
        {"frozen_time": 1},
        {"frozen_time": START, "x": 1},
    ],
)
async def test_a_bad_body_is_a_400(clocks: Clocks, body: dict[str, Any]) -> None:
    response = await clocks.client.post(
        "/api/v1/test-clocks", json=body, headers={"Authorization": f"Bearer {clocks.key}"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


async def test_live_keys_are_refused_on_every_clock_route_and_on_test_clock_id(
    clocks: Clocks, api: Api, make_key: KeyFactory
) -> None:
    clock_id = await clocks.create()
    live = await make_key(*ALL_SCOPES, livemode=True)
    answers = [
        await clocks.post(key=live),
        await clocks.get(clock_id, key=live),
        await clocks.advance(clock_id, "2026-04-01T00:00:00Z", key=live),
        await clocks.delete(clock_id, key=live),
    ]
    live_method = await api.payment_method(key=live)
    answers.append(
        await api.create(new_subscription(live_method, test_clock_id=clock_id), key=live)
    )
    assert [(answer.status_code, answer.json()["code"]) for answer in answers] == [
        (403, "forbidden")
    ] * 5
    assert (await clocks.get(clock_id)).json()["frozen_time"] == START


async def test_another_merchants_clock_is_not_found(
    clocks: Clocks, api: Api, make_key: KeyFactory, db_session: AsyncSession, clock: FrozenClock
) -> None:
    other = await MerchantService(db_session, clock).create_merchant("Other Shop")
    await db_session.commit()
    their_key = await make_key(*ALL_SCOPES, merchant_id=other.id)
    theirs = Clocks(clocks.client, their_key)
    clock_id = await theirs.create()
    answers = [
        await clocks.get(clock_id),
        await clocks.advance(clock_id, "2026-04-01T00:00:00Z"),
        await clocks.delete(clock_id),
        await api.create(new_subscription(await api.payment_method(), test_clock_id=clock_id)),
    ]
    assert [answer.status_code for answer in answers] == [404] * 4
    assert (await theirs.get(clock_id)).status_code == 200


async def test_production_refuses_the_test_clock(
    settings: Settings, resources: Resources, subscriptions_key: str
) -> None:
    production = msgspec.structs.replace(
        settings, core=msgspec.structs.replace(settings.core, env="production")
    )
    app: Litestar = create_app(production, resources=resources)
    async with http_client(app) as client:
        response = await Clocks(client, subscriptions_key).post()
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert "production" in response.json()["detail"]


async def test_a_subscription_lives_in_its_clocks_time_and_the_wall_clock_never_bills_it(
    clocks: Clocks, api: Api, billing: Billing, clock: FrozenClock
) -> None:
    clock_id = await clocks.create()
    created = await api.subscribe(test_clock_id=clock_id)
    assert created["test_clock_id"] == clock_id
    assert (created["status"], created["current_period_start"]) == ("active", START)
    assert created["next_billing_at"] == "2026-04-01T10:00:00Z"

    clock.set(datetime(2026, 6, 1, tzinfo=UTC))  # the wall clock passes its date
    run = await billing.run(now=True)
    assert (run.due, run.charges.charged) == (0, 0)
    assert len(await api.invoices(created["id"])) == 1

    await clocks.to(clock_id, "2026-04-01T10:00:00Z")
    renewed = await api.one(created["id"])
    assert (renewed["current_period_start"], renewed["cycles_billed"]) == (
        "2026-04-01T10:00:00Z",
        2,
    )
    [_, second] = await api.invoices(created["id"])
    assert second["status"] == "paid"
    assert second["attempts"][0]["attempted_at"] == "2026-04-01T10:00:00Z"
    charge = await api.transaction(second["attempts"][0]["transaction_id"])
    assert charge["created_at"] == "2026-04-01T10:00:00Z"


async def test_a_clocks_charge_in_doubt_is_reconciled_on_its_clock_never_by_the_wall_clock(
    clocks: Clocks, api: Api, billing: Billing, clock: FrozenClock
) -> None:
    # The clock stands months behind the wall clock: judged by wall time, its first
    # charge would look long abandoned while its own request still calls the
    # processor (the chaos suite caught the wall-clock sweep failing it mid-call).
    clock.set(datetime(2026, 6, 1, tzinfo=UTC))
    clock_id = await clocks.create()
    method = await api.payment_method(TRIGGER_CARD)
    response = await api.create(new_subscription(method, amount=90100, test_clock_id=clock_id))
    assert response.status_code == 202, response.text  # the processor's answer was lost
    created = response.json()

    assert (await billing.reconcile()).claimed == 0, "the wall clock leaves it alone"
    assert (await api.one(created["id"]))["status"] == "incomplete"

    await clocks.to(clock_id, "2026-03-02T10:00:00Z")
    assert (await api.one(created["id"]))["status"] == "active", "its clock reconciled it"


async def test_changes_to_a_clocks_subscription_happen_at_its_time(
    clocks: Clocks, api: Api
) -> None:
    clock_id = await clocks.create()
    created = await api.subscribe(test_clock_id=clock_id)
    await clocks.to(clock_id, "2026-03-20T00:00:00Z")
    canceled = await api.delete(created["id"])
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["canceled_at"] == "2026-03-20T00:00:00Z"


async def test_the_101st_subscription_on_a_clock_is_a_400(
    clocks: Clocks, api: Api, db_session: AsyncSession
) -> None:
    clock_id = await clocks.create()
    created = await api.subscribe(test_clock_id=clock_id, trial_days=30)
    # The other 99 as rows: only the count matters, not how they came.
    template = await db_session.get(Subscription, created["id"])
    assert template is not None
    values = {c.key: getattr(template, c.key) for c in Subscription.__table__.columns}
    for number in range(MAX_SUBSCRIPTIONS - 1):
        db_session.add(Subscription(**{**values, "id": f"sub_CLONE{number:011d}"}))
    await db_session.commit()

    response = await api.create(
        new_subscription(await api.payment_method(), test_clock_id=clock_id, trial_days=30)
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "test_clock_id"
    on_clock = select(func.count()).where(Subscription.test_clock_id == clock_id)
    assert await db_session.scalar(on_clock) == MAX_SUBSCRIPTIONS


async def test_deleting_a_clock_cancels_its_subscriptions(clocks: Clocks, api: Api) -> None:
    clock_id = await clocks.create()
    active = await api.subscribe(test_clock_id=clock_id)
    trialing = await api.subscribe(test_clock_id=clock_id, trial_days=7)
    elsewhere = await api.subscribe()
    await clocks.to(clock_id, "2026-03-05T00:00:00Z")

    response = await clocks.delete(clock_id)
    assert response.status_code == 204
    for subscription in (active, trialing):
        ended = await api.one(subscription["id"])
        assert (ended["status"], ended["canceled_at"]) == ("canceled", "2026-03-05T00:00:00Z")
        assert ended["next_billing_at"] is None
    assert (await api.one(elsewhere["id"]))["status"] == "active"
    assert (await clocks.get(clock_id)).status_code == 404
    assert (await clocks.delete(clock_id)).status_code == 404
    again = await api.create(new_subscription(await api.payment_method(), test_clock_id=clock_id))
    assert again.status_code == 404
