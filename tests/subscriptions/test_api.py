"""The subscriptions API (API.md "Subscriptions"): creation and its 201/202/402/502
answers, validation, scopes, tenancy, lists and invoices."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry
from gateway.core.clock import FrozenClock
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from tests.fixtures.merchants import KeyFactory
from tests.subscriptions.conftest import ALL_SCOPES, TRIGGER_CARD, Api, Billing, new_subscription


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def count(db_session: AsyncSession, model: type[Any]) -> int:
    return int(await db_session.scalar(select(func.count()).select_from(model)) or 0)


async def assert_kept_but_never_shown(api: Api, db_session: AsyncSession, *, attempt: str) -> None:
    """A failed creation keeps its rows (event rows are never deleted), canceled for
    good and hidden from the API: for clients no subscription was created."""
    subscriptions = (await db_session.scalars(select(Subscription))).all()
    assert [(row.status, row.cancellation_reason) for row in subscriptions] == [
        ("canceled", "creation_failed")
    ]
    assert [row.status for row in (await db_session.scalars(select(Invoice))).all()] == ["void"]
    attempts = (await db_session.scalars(select(InvoiceAttempt))).all()
    assert [row.status for row in attempts] == [attempt]
    hidden = await api.get(f"/{subscriptions[0].id}")
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    assert (await api.get(f"/{subscriptions[0].id}/invoices")).status_code == 404


# -- creation ---------------------------------------------------------------------------


async def test_starting_now_charges_the_first_period_during_the_request(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    method = await api.payment_method()
    response = await api.create(new_subscription(method, plan_id="gold", metadata={"a": "b"}))

    assert response.status_code == 201, response.text
    body = response.json()
    now = clock.now()
    assert body["id"].startswith("sub_")
    assert body["object"] == "subscription"
    assert body["livemode"] is False
    assert body["status"] == "active"
    assert body["customer"] == {"id": "cus_42", "email": "Ada@Example.org"}
    assert (body["plan_id"], body["payment_method"]) == ("gold", method)
    assert (body["amount"], body["currency"], body["interval"]) == (1500, "USD", "month")
    assert (body["interval_count"], body["cycles_billed"], body["total_cycles"]) == (1, 1, None)
    assert body["current_period_start"] == iso(now)
    assert body["current_period_end"] == iso(datetime(2026, 2, 15, 12, tzinfo=now.tzinfo))
    assert body["next_billing_at"] == body["current_period_end"]
    assert body["trial_end"] is None
    assert (body["cancel_at_period_end"], body["canceled_at"]) == (False, None)
    assert (body["failed_attempts"], body["test_clock_id"]) == (0, None)
    assert body["metadata"] == {"a": "b"}

    [invoice] = await api.invoices(body["id"])
    assert invoice["status"] == "paid"
    assert (invoice["period_start"], invoice["period_end"]) == (
        body["current_period_start"],
        body["current_period_end"],
    )
    [attempt] = invoice["attempts"]
    assert attempt["id"].startswith("att_")
    assert (attempt["status"], attempt["decline_code"], attempt["next_attempt_at"]) == (
        "succeeded", None, None,
    )  # fmt: skip
    charge = await api.transaction(attempt["transaction_id"])
    assert (charge["type"], charge["status"], charge["amount"]) == ("purchase", "captured", 1500)
    assert (charge["subscription_id"], charge["invoice_id"]) == (body["id"], invoice["id"])
    assert await billing.money_taken(body["id"]) == 1
    # Every state change is an event, of the subscription and of the invoice.
    assert await billing.events(body["id"]) == [
        (None, "incomplete", "api"),
        ("incomplete", "active", "api"),
    ]
    assert await billing.events(invoice["id"]) == [(None, "open", "api"), ("open", "paid", "api")]


async def test_a_replay_answers_the_same_and_charges_nothing_more(
    api: Api, billing: Billing
) -> None:
    body = new_subscription(await api.payment_method())
    first = await api.create(body, idempotency_key="monthly-1")
    again = await api.create(body, idempotency_key="monthly-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await billing.money_taken(first.json()["id"]) == 1
    listed = await api.get()
    assert [row["id"] for row in listed.json()["data"]] == [first.json()["id"]]


async def test_a_declined_first_charge_is_402_and_creates_no_subscription(
    api: Api, db_session: AsyncSession
) -> None:
    method = await api.payment_method(TRIGGER_CARD)
    response = await api.create(new_subscription(method, amount=200), idempotency_key="declined")

    assert response.status_code == 402, response.text
    problem = response.json()
    assert (problem["code"], problem["decline_code"]) == ("card_declined", "2")
    charge = await api.transaction(problem["transaction_id"])
    assert (charge["status"], charge["subscription_id"], charge["invoice_id"]) == (
        "declined", None, None,
    )  # fmt: skip
    assert (await api.get()).json()["data"] == []
    await assert_kept_but_never_shown(api, db_session, attempt="declined")
    replay = await api.create(new_subscription(method, amount=200), idempotency_key="declined")
    assert (replay.status_code, replay.json()) == (402, problem)


async def test_a_processor_error_on_the_first_charge_is_502_and_creates_nothing(
    api: Api, db_session: AsyncSession
) -> None:
    method = await api.payment_method(TRIGGER_CARD)
    response = await api.create(new_subscription(method, amount=2000))  # reason 20
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "processor_error"
    assert (await api.transaction(response.json()["transaction_id"]))["status"] == "failed"
    assert (await api.get()).json()["data"] == []
    await assert_kept_but_never_shown(api, db_session, attempt="failed")


async def test_an_unknown_outcome_is_202_incomplete_then_reconciled_to_active(
    api: Api, billing: Billing
) -> None:
    method = await api.payment_method(TRIGGER_CARD)
    body = new_subscription(method, amount=90100)  # recorded, then the answer is lost
    response = await api.create(body, idempotency_key="lost")
    assert response.status_code == 202, response.text
    pending = response.json()
    assert (pending["status"], pending["cycles_billed"], pending["next_billing_at"]) == (
        "incomplete", 0, None,
    )  # fmt: skip
    replay = await api.create(body, idempotency_key="lost")
    assert (replay.status_code, replay.json()["status"]) == (202, "incomplete")

    await billing.reconcile()
    run = await billing.run()

    assert run.tick.resolved == 1
    active = await api.one(pending["id"])
    assert (active["status"], active["cycles_billed"]) == ("active", 1)
    assert active["next_billing_at"] == active["current_period_end"]
    [invoice] = await api.invoices(pending["id"])
    assert (invoice["status"], invoice["attempts"][0]["status"]) == ("paid", "succeeded")
    replay = await api.create(body, idempotency_key="lost")
    assert (replay.status_code, replay.json()["status"]) == (201, "active")
    assert await billing.money_taken(pending["id"]) == 1


async def test_an_unknown_outcome_the_processor_never_saw_ends_canceled(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    method = await api.payment_method(TRIGGER_CARD)
    response = await api.create(new_subscription(method, amount=90200))  # nothing recorded
    assert response.status_code == 202, response.text
    clock.advance(timedelta(minutes=billing.settings.payments.reconcile_not_found_after_minutes))
    await billing.reconcile()
    await billing.run()

    canceled = await api.one(response.json()["id"])
    assert canceled["status"] == "canceled"
    [invoice] = await api.invoices(canceled["id"])
    assert (invoice["status"], invoice["attempts"][0]["status"]) == ("void", "postponed")
    assert await billing.money_taken(canceled["id"]) == 0


async def test_a_trial_charges_nothing_until_it_ends(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    start = clock.now()
    created = await api.subscribe(trial_days=14)
    trial_end = start + timedelta(days=14)
    assert (created["status"], created["trial_end"]) == ("trialing", iso(trial_end))
    assert created["next_billing_at"] == iso(trial_end)
    assert (created["current_period_start"], created["current_period_end"]) == (
        iso(start), iso(trial_end),
    )  # fmt: skip
    assert await api.invoices(created["id"]) == []

    clock.advance(timedelta(days=14) - timedelta(seconds=1))
    assert (await billing.run()).due == 0
    clock.advance(timedelta(seconds=1))
    run = await billing.run()

    assert (run.due, run.charges.charged) == (1, 1)
    active = await api.one(created["id"])
    assert (active["status"], active["cycles_billed"]) == ("active", 1)
    # The trial's end is the anchor: the day and time every later charge keeps.
    assert (active["current_period_start"], active["current_period_end"]) == (
        iso(trial_end), iso(datetime(2026, 2, 28, 12, tzinfo=trial_end.tzinfo)),
    )  # fmt: skip


async def test_a_future_start_is_active_and_first_charged_at_its_date(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    start = clock.now() + timedelta(days=3, hours=2)
    created = await api.subscribe(start_date=start.isoformat(), interval="week")
    assert (created["status"], created["cycles_billed"]) == ("active", 0)
    assert created["next_billing_at"] == iso(start)
    assert await billing.money_taken(created["id"]) == 0

    clock.set(start)
    await billing.run()

    charged = await api.one(created["id"])
    assert charged["cycles_billed"] == 1
    assert (charged["current_period_start"], charged["current_period_end"]) == (
        iso(start), iso(start + timedelta(weeks=1)),
    )  # fmt: skip


async def test_a_start_date_with_an_offset_is_the_same_instant(
    api: Api, clock: FrozenClock
) -> None:
    created = await api.subscribe(start_date="2026-02-01T09:00:00+01:00")
    assert created["next_billing_at"] == "2026-02-01T08:00:00Z"


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "1500"}, "amount"),
        ({"amount": 1500.0}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": 100_000_000}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval_count": 0}, "interval_count"),
        ({"interval": "month", "interval_count": 13}, "interval_count"),
        ({"interval": "week", "interval_count": 53}, "interval_count"),
        ({"trial_days": 0}, "trial_days"),
        ({"total_cycles": 0}, "total_cycles"),
        ({"start_date": "2026-01-01T00:00:00Z"}, "start_date"),
        ({"start_date": "2026-03-01T00:00:00"}, "start_date"),
        ({"start_date": "next week"}, "start_date"),
        ({"customer": {"email": "a@b.co"}}, "customer"),  # missing its `id`
        ({"payment_method": {"card": {"number": "4111111111111111"}}}, "payment_method.card"),
        ({"payment_method": {"token": "tok_1"}}, "payment_method.token"),
        ({"test_clock_id": "clk_1"}, "test_clock_id"),
        ({"metadata": {"k": 1}}, "metadata"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_invalid_bodies_are_400_and_change_nothing(
    api: Api, db_session: AsyncSession, changes: dict[str, Any], field: str
) -> None:
    response = await api.create({**new_subscription(await api.payment_method()), **changes})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await count(db_session, Subscription) == 0


async def test_the_idempotency_key_is_required(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/subscriptions",
        json=new_subscription(await api.payment_method()),
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"


async def test_another_merchants_payment_method_is_404(
    api: Api, make_key: KeyFactory, db_session: AsyncSession, clock: FrozenClock
) -> None:
    other = await MerchantService(db_session, clock).create_merchant("Other Shop")
    await db_session.commit()
    their_key = await make_key(*ALL_SCOPES, merchant_id=other.id)
    theirs = await api.payment_method(key=their_key)
    response = await api.create(new_subscription(theirs))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_a_test_clock_is_not_found_for_test_keys_and_forbidden_for_live_keys(
    api: Api, make_key: KeyFactory, db_session: AsyncSession
) -> None:
    method = await api.payment_method()
    clock_id = "clock_0123456789ABCDEF"
    missing = await api.create(new_subscription(method, test_clock_id=clock_id))
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    live_key = await make_key(*ALL_SCOPES, livemode=True)
    live_method = await api.payment_method(key=live_key)
    live = await api.create(new_subscription(live_method, test_clock_id=clock_id), key=live_key)
    assert (live.status_code, live.json()["code"]) == (403, "forbidden")
    assert await count(db_session, Subscription) == 0


# -- scopes and tenancy -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "read", "write"),
    [
        ((Scope.SUBSCRIPTIONS_READ,), 200, 403),
        ((Scope.SUBSCRIPTIONS_WRITE,), 403, 201),
        ((Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE), 403, 403),
        ((Scope.WEBHOOKS_ADMIN,), 403, 403),
        ((Scope.ADMIN,), 200, 201),
    ],
)
async def test_each_route_needs_its_scope(
    api: Api, make_key: KeyFactory, scopes: tuple[Scope, ...], read: int, write: int
) -> None:
    existing = await api.subscribe()
    key = await make_key(*scopes)
    method = await api.payment_method()
    assert (await api.get(key=key)).status_code == read
    assert (await api.get(f"/{existing['id']}", key=key)).status_code == read
    assert (await api.get(f"/{existing['id']}/invoices", key=key)).status_code == read
    created = await api.create(new_subscription(method), key=key)
    assert created.status_code == write, created.text
    changed = 200 if write == 201 else write
    assert (await api.put(existing["id"], {"plan_id": "x"}, key=key)).status_code == changed
    assert (await api.delete(existing["id"], key=key)).status_code == changed


async def test_no_key_is_401(api: Api) -> None:
    response = await api.client.get("/api/v1/subscriptions")
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


async def test_another_merchants_subscription_is_404_on_every_route(
    api: Api, make_key: KeyFactory, db_session: AsyncSession, clock: FrozenClock
) -> None:
    mine = await api.subscribe()
    other = await MerchantService(db_session, clock).create_merchant("Other Shop")
    await db_session.commit()
    theirs = await make_key(*ALL_SCOPES, merchant_id=other.id)
    live_mine = await make_key(*ALL_SCOPES, livemode=True)
    for key in (theirs, live_mine):
        assert (await api.get(f"/{mine['id']}", key=key)).status_code == 404
        assert (await api.get(f"/{mine['id']}/invoices", key=key)).status_code == 404
        assert (await api.put(mine["id"], {"plan_id": "x"}, key=key)).status_code == 404
        assert (await api.delete(mine["id"], key=key)).status_code == 404
        assert (await api.get(key=key)).json()["data"] == []
    assert (await api.one(mine["id"]))["status"] == "active"


# -- lists --------------------------------------------------------------------------------


async def test_lists_filter_by_status_and_customer_and_page_newest_first(
    api: Api, clock: FrozenClock
) -> None:
    method = await api.payment_method()
    ids = []
    for customer in ("cus_a", "cus_b", "cus_a"):
        clock.advance(timedelta(seconds=1))
        created = await api.subscribe(method, customer={"id": customer})
        ids.append(created["id"])
    trialing = await api.subscribe(method, customer={"id": "cus_c"}, trial_days=7)

    first = (await api.get(limit=2)).json()
    second = (await api.get(limit=2, cursor=first["next_cursor"])).json()
    assert [row["id"] for row in first["data"] + second["data"]] == [trialing["id"], *ids[::-1]]
    assert second["next_cursor"] is None
    by_customer = (await api.get(customer_id="cus_a")).json()["data"]
    assert [row["id"] for row in by_customer] == [ids[2], ids[0]]
    by_status = (await api.get(status="trialing")).json()["data"]
    assert [row["id"] for row in by_status] == [trialing["id"]]
    bad = await api.get(status="sleeping")
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (400, "status")
    assert (await api.get(limit=101)).status_code == 400
    assert (await api.get(cursor="nonsense")).status_code == 400


async def test_a_creation_is_audited_without_personal_data(
    api: Api, db_session: AsyncSession
) -> None:
    created = await api.subscribe()
    entries = (
        await db_session.scalars(select(AuditEntry).where(AuditEntry.object_id == created["id"]))
    ).all()
    assert [(entry.action, entry.details) for entry in entries] == [
        ("subscription.create", {"amount": 1500, "currency": "USD", "interval": "month"})
    ]
    row = await db_session.get(Subscription, created["id"])
    assert row is not None
    assert row.customer_email_encrypted is not None
    assert "Example.org" not in row.customer_email_encrypted
