"""Renewals, dunning and the merchant's changes, driven by billing passes on the
test's frozen clock (API.md "Subscriptions"; DESIGN.md invariant 5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.processors.simulator import Simulator
from gateway.subscriptions.billing.renewal import InvoiceCharger
from gateway.subscriptions.billing.tick import BillingTick
from tests.subscriptions.conftest import Api, Billing


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def until_due(api: Api, billing: Billing, subscription_id: str) -> dict[str, Any]:
    """Move the clock to the subscription's next billing date and run a pass there."""
    subscription = await api.one(subscription_id)
    billing.clock.set(at(subscription["next_billing_at"]))
    await billing.run()
    return await api.one(subscription_id)


# -- renewals ---------------------------------------------------------------------------


async def test_renewals_keep_the_month_end_anchor_and_bill_each_period_once(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 1, 31, 9, 30, tzinfo=UTC))
    created = await api.subscribe()
    expected = ["2026-02-28T09:30:00Z", "2026-03-31T09:30:00Z", "2026-04-30T09:30:00Z"]
    assert created["next_billing_at"] == expected[0]

    for index, due in enumerate(expected):
        clock.set(at(due) - timedelta(seconds=1))
        assert (await billing.run()).due == 0, "nothing before its date"
        clock.set(at(due))
        first = await billing.run()
        again = await billing.run()  # a duplicated tick at the same moment
        assert (first.due, first.charges.charged) == (1, 1)
        assert (again.due, again.charges.charged) == (0, 0)
        renewed = await api.one(created["id"])
        assert renewed["current_period_start"] == due
        assert renewed["cycles_billed"] == index + 2
        if index + 1 < len(expected):
            assert renewed["next_billing_at"] == expected[index + 1]

    invoices = await api.invoices(created["id"])
    assert [invoice["period_start"] for invoice in invoices] == [
        "2026-01-31T09:30:00Z", *expected,
    ]  # fmt: skip
    assert all(invoice["status"] == "paid" for invoice in invoices)
    assert await billing.money_taken(created["id"]) == 4
    assert (await billing.events(created["id"]))[-1] == ("active", "active", "billing")
    assert await billing.events(invoices[1]["id"]) == [
        (None, "open", "billing"),
        ("open", "paid", "billing"),
    ]


async def test_a_price_change_applies_from_the_next_period(api: Api, billing: Billing) -> None:
    created = await api.subscribe()
    changed = await api.put(created["id"], {"amount": 2500, "plan_id": "gold"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["amount"], changed.json()["plan_id"]) == (2500, "gold")
    await until_due(api, billing, created["id"])
    first, renewal = await api.invoices(created["id"])
    assert (first["amount"], renewal["amount"]) == (1500, 2500)
    charge = await api.transaction(renewal["attempts"][0]["transaction_id"])
    assert charge["amount"] == 2500


async def test_total_cycles_count_paid_periods_not_the_trial_then_expire(
    api: Api, billing: Billing
) -> None:
    created = await api.subscribe(trial_days=7, total_cycles=2)
    first = await until_due(api, billing, created["id"])  # the trial ends: cycle 1
    second = await until_due(api, billing, created["id"])  # cycle 2
    assert (first["cycles_billed"], second["cycles_billed"]) == (1, 2)
    ended = await until_due(api, billing, created["id"])  # the end of the last period
    assert (ended["status"], ended["next_billing_at"]) == ("expired", None)
    assert len(await api.invoices(created["id"])) == 2
    assert await billing.money_taken(created["id"]) == 2
    assert (await billing.events(created["id"]))[-1] == ("active", "expired", "billing")
    assert (await api.delete(created["id"])).status_code == 409


# -- dunning ------------------------------------------------------------------------------


async def test_dunning_retries_on_schedule_then_cancels(api: Api, billing: Billing) -> None:
    method = await api.payment_method()
    created = await api.subscribe(method)
    due = at(created["next_billing_at"])
    await billing.script(method, "decline,decline,decline,decline,decline")

    failing = await until_due(api, billing, created["id"])
    assert (failing["status"], failing["failed_attempts"]) == ("past_due", 1)
    shift = at(failing["next_billing_at"]) - due - timedelta(days=1)
    assert timedelta(0) <= shift < timedelta(hours=1)
    for failures, days in ((2, 3), (3, 5), (4, 7)):
        retry_at = at(failing["next_billing_at"])
        billing.clock.set(retry_at - timedelta(seconds=1))
        assert (await billing.run()).due == 0, "no retry before its time"
        failing = await until_due(api, billing, created["id"])
        assert (failing["status"], failing["failed_attempts"]) == ("past_due", failures)
        assert failing["next_billing_at"] == iso(due + timedelta(days=days) + shift)
    canceled = await until_due(api, billing, created["id"])

    assert (canceled["status"], canceled["failed_attempts"]) == ("canceled", 5)
    assert canceled["next_billing_at"] is None
    # The period stays the one last paid: a failed renewal never moves it.
    assert canceled["current_period_end"] == iso(due)
    _, renewal = await api.invoices(created["id"])
    assert renewal["status"] == "uncollectible"
    attempts = renewal["attempts"]
    assert [(a["status"], a["decline_code"]) for a in attempts] == [("declined", "2")] * 5
    assert [a["next_attempt_at"] for a in renewal["attempts"]] == [
        *(iso(due + timedelta(days=days) + shift) for days in (1, 3, 5, 7)), None,
    ]  # fmt: skip
    assert await billing.events(created["id"]) == [
        (None, "incomplete", "api"),
        ("incomplete", "active", "api"),
        ("active", "past_due", "billing"),
        ("past_due", "past_due", "billing"),  # the first failure's own event (issue 18)
        ("past_due", "past_due", "billing"),
        ("past_due", "past_due", "billing"),
        ("past_due", "past_due", "billing"),
        ("past_due", "canceled", "billing"),
        ("canceled", "canceled", "billing"),  # the last failure's own event
    ]
    billing.clock.advance(timedelta(days=60))
    assert (await billing.run(now=True)).due == 0, "nothing more is ever tried"
    assert await billing.money_taken(created["id"]) == 1


async def test_a_successful_retry_returns_to_active_without_moving_the_anchor(
    api: Api, billing: Billing
) -> None:
    method = await api.payment_method()
    created = await api.subscribe(method)
    due = at(created["next_billing_at"])
    await billing.script(method, "decline,approve")

    assert (await until_due(api, billing, created["id"]))["status"] == "past_due"
    recovered = await until_due(api, billing, created["id"])

    assert (recovered["status"], recovered["failed_attempts"]) == ("active", 0)
    assert recovered["current_period_start"] == iso(due)
    assert recovered["current_period_end"] == iso(due.replace(month=due.month + 1))
    assert recovered["next_billing_at"] == recovered["current_period_end"]
    _, renewal = await api.invoices(created["id"])
    assert renewal["status"] == "paid"
    assert [a["status"] for a in renewal["attempts"]] == ["declined", "succeeded"]
    # Back to active, and the renewal paid, an event of its own (issue 18).
    assert (await billing.events(created["id"]))[-2:] == [
        ("past_due", "active", "billing"),
        ("active", "active", "billing"),
    ]


async def test_a_hard_decline_stops_at_once(api: Api, billing: Billing) -> None:
    method = await api.payment_method()
    created = await api.subscribe(method)
    await billing.script(method, "decline:4")
    ended = await until_due(api, billing, created["id"])
    assert (ended["status"], ended["failed_attempts"]) == ("canceled", 1)
    _, renewal = await api.invoices(created["id"])
    assert renewal["status"] == "uncollectible"
    assert [(a["status"], a["decline_code"]) for a in renewal["attempts"]] == [("declined", "4")]


async def test_the_final_action_may_pause_instead(api: Api, billing: Billing) -> None:
    pausing = billing.configured(dunning_schedule_days=(2,), dunning_final_action="pause")
    method = await api.payment_method()
    created = await api.subscribe(method)
    await billing.script(method, "decline,decline")
    await until_due(api, pausing, created["id"])
    retry = await api.one(created["id"])
    assert retry["status"] == "past_due"
    paused = await until_due(api, pausing, created["id"])
    assert (paused["status"], paused["next_billing_at"]) == ("paused", None)
    assert (await api.invoices(created["id"]))[1]["status"] == "uncollectible"


async def test_attempts_the_processor_never_took_are_postponed_not_counted(
    api: Api, billing: Billing, resources: Resources, simulator: Simulator
) -> None:
    created = await api.subscribe()
    billing.clock.set(at(created["next_billing_at"]))
    await simulator.outage.turn(on=True)

    unreachable = await billing.run()
    assert (unreachable.due, unreachable.charges.postponed) == (1, 1)
    after = await api.one(created["id"])
    assert (after["status"], after["failed_attempts"]) == ("active", 0)
    _, renewal = await api.invoices(created["id"])
    assert (renewal["status"], [a["status"] for a in renewal["attempts"]]) == (
        "open", ["postponed"],
    )  # fmt: skip

    billing.clock.advance(timedelta(minutes=1))  # the postponed attempt is due again
    breaker = resources.processors.test.breaker
    for _ in range(billing.settings.processor.breaker_fail_max):
        await breaker.record_failure()
    refused = await billing.run()
    assert (refused.due, refused.charges.postponed) == (1, 1)
    _, renewal = await api.invoices(created["id"])
    assert len(renewal["attempts"]) == 1, "an open breaker writes no attempt"

    await simulator.outage.turn(on=False)
    billing.clock.advance(timedelta(seconds=billing.settings.processor.breaker_reset_s + 60))
    paid = await billing.run()
    assert paid.charges.charged == 1
    after = await api.one(created["id"])
    assert (after["status"], after["failed_attempts"], after["cycles_billed"]) == ("active", 0, 2)
    assert await billing.money_taken(created["id"]) == 2


async def test_a_deleted_card_makes_the_renewal_past_due_and_a_new_card_is_used_by_the_retry(
    api: Api, billing: Billing
) -> None:
    old = await api.payment_method()
    created = await api.subscribe(old)
    removed = await api.client.delete(
        f"/api/v1/payment-methods/{old}", headers={"Authorization": f"Bearer {api.key}"}
    )
    assert removed.status_code == 204

    failing = await until_due(api, billing, created["id"])
    assert (failing["status"], failing["failed_attempts"]) == ("past_due", 1)
    _, renewal = await api.invoices(created["id"])
    [attempt] = renewal["attempts"]
    assert (attempt["status"], attempt["transaction_id"]) == ("failed", None)

    new = await api.payment_method("5424000000000015")
    changed = await api.put(created["id"], {"payment_method": {"token": new}})
    assert changed.json()["payment_method"] == new
    recovered = await until_due(api, billing, created["id"])

    assert recovered["status"] == "active"
    _, renewal = await api.invoices(created["id"])
    charge = await api.transaction(renewal["attempts"][-1]["transaction_id"])
    assert (charge["status"], charge["card"]["last4"]) == ("captured", "0015")


# -- the merchant's changes ----------------------------------------------------------------


async def test_cancel_at_period_end_lets_the_paid_period_run_then_ends(
    api: Api, billing: Billing
) -> None:
    created = await api.subscribe()
    marked = await api.delete(created["id"], at_period_end="true")
    assert marked.status_code == 200, marked.text
    assert (marked.json()["status"], marked.json()["cancel_at_period_end"]) == ("active", True)
    assert await billing.events(created["id"]) == [
        (None, "incomplete", "api"),
        ("incomplete", "active", "api"),
    ], "a mark is not a state change"

    ended = await until_due(api, billing, created["id"])

    assert (ended["status"], ended["next_billing_at"]) == ("canceled", None)
    assert ended["canceled_at"] == created["current_period_end"]
    assert len(await api.invoices(created["id"])) == 1
    assert await billing.money_taken(created["id"]) == 1
    assert (await billing.events(created["id"]))[-1] == ("active", "canceled", "billing")


async def test_cancel_now_voids_the_unpaid_invoice_and_stops_dunning(
    api: Api, billing: Billing
) -> None:
    method = await api.payment_method()
    created = await api.subscribe(method)
    await billing.script(method, "decline")
    await until_due(api, billing, created["id"])

    response = await api.delete(created["id"])

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["next_billing_at"]) == ("canceled", None)
    assert (await api.invoices(created["id"]))[1]["status"] == "void"
    billing.clock.advance(timedelta(days=30))
    assert (await billing.run(now=True)).due == 0
    again = await api.delete(created["id"])
    assert (again.status_code, again.json()["status"]) == (200, "canceled")
    refused = await api.put(created["id"], {"metadata": {"a": "b"}})
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_state")


async def test_pause_stops_billing_and_resume_before_the_period_end_changes_nothing(
    api: Api, billing: Billing
) -> None:
    created = await api.subscribe()
    paused = await api.put(created["id"], {"pause": True, "metadata": {"why": "holiday"}})
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert (body["status"], body["next_billing_at"], body["metadata"]) == (
        "paused", None, {"why": "holiday"},
    )  # fmt: skip
    billing.clock.advance(timedelta(days=10))
    resumed = (await api.put(created["id"], {"pause": False})).json()
    assert (resumed["status"], resumed["next_billing_at"]) == (
        "active", created["current_period_end"],
    )  # fmt: skip
    assert (await billing.events(created["id"]))[-2:] == [
        ("active", "paused", "api"),
        ("paused", "active", "api"),
    ]


async def test_periods_spent_paused_are_never_billed_and_resume_bills_the_current_one(
    api: Api, billing: Billing, clock: FrozenClock
) -> None:
    created = await api.subscribe()  # Jan 15, monthly
    assert (await api.put(created["id"], {"pause": True})).status_code == 200
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))
    assert (await billing.run(now=True)).due == 0, "nothing is billed while paused"

    resumed = (await api.put(created["id"], {"pause": False})).json()
    assert resumed["next_billing_at"] == "2026-03-15T12:00:00Z"
    await billing.run()

    starts = [invoice["period_start"] for invoice in await api.invoices(created["id"])]
    assert starts == ["2026-01-15T12:00:00Z", "2026-03-15T12:00:00Z"], "February was skipped"
    charged = await api.one(created["id"])
    assert (charged["status"], charged["next_billing_at"]) == ("active", "2026-04-15T12:00:00Z")


async def test_pausing_a_past_due_subscription_stops_dunning_and_resuming_retries_at_once(
    api: Api, billing: Billing
) -> None:
    method = await api.payment_method()
    created = await api.subscribe(method)
    await billing.script(method, "decline,approve")
    await until_due(api, billing, created["id"])
    assert (await api.put(created["id"], {"pause": True})).status_code == 200
    billing.clock.advance(timedelta(days=10))
    assert (await billing.run(now=True)).due == 0

    resumed = (await api.put(created["id"], {"pause": False})).json()
    assert resumed["status"] == "past_due"
    await billing.run()

    recovered = await api.one(created["id"])
    assert (recovered["status"], recovered["cycles_billed"]) == ("active", 2)


async def test_changes_validate_and_pausing_needs_a_pausable_state(api: Api) -> None:
    created = await api.subscribe()
    for body, field in (
        ({"amount": "2500"}, "amount"),
        ({"pause": "yes"}, "pause"),
        ({"interval": "week"}, "interval"),
    ):
        response = await api.put(created["id"], body)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == field
    missing = await api.put(created["id"], {"payment_method": {"token": "pm_0000000000000000"}})
    assert missing.status_code == 404
    assert (await api.one(created["id"]))["amount"] == 1500
    bad = await api.delete(created["id"], at_period_end="maybe")
    assert bad.status_code == 400


class _WorkerDied(Exception):
    """What SIGKILL would do to the job, here without ending the test process."""


def _die() -> None:
    raise _WorkerDied


async def test_a_charge_whose_worker_died_after_the_processor_took_it_is_reconciled_not_resent(
    api: Api, billing: Billing
) -> None:
    created = await api.subscribe()
    billing.clock.set(at(created["next_billing_at"]))
    tick = BillingTick(
        billing.sessions,
        clock=billing.clock,
        crypto=billing.crypto,
        billing=billing.settings.billing,
    )
    [invoice_id] = (await tick.run()).requested
    died = FaultPoints({FaultPoint.AFTER_PROCESSOR_CALL: 1.0}, kill=_die)
    charger = InvoiceCharger(
        billing.sessions,
        clock=billing.clock,
        processors=billing.processors,
        crypto=billing.crypto,
        settings=billing.settings,
        faults=died,
    )
    with pytest.raises(_WorkerDied):
        await charger.charge(invoice_id)  # the processor took the money; the worker dies here
    charger.runner.faults = FaultPoints.none()

    assert (await charger.charge_all([invoice_id])).skipped == 1
    assert (await billing.run(now=True)).due == 0, "nothing is retried while in doubt"
    await billing.reconcile()
    resolved = await billing.run()

    assert resolved.tick.resolved == 1
    renewed = await api.one(created["id"])
    assert (renewed["status"], renewed["cycles_billed"]) == ("active", 2)
    _, renewal = await api.invoices(created["id"])
    assert (renewal["status"], [a["status"] for a in renewal["attempts"]]) == (
        "paid", ["succeeded"],
    )  # fmt: skip
    assert await billing.money_taken(created["id"]) == 2
