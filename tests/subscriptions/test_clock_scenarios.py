"""Months and years of billing on test clocks, in seconds (API.md "Test clocks"):
a trial, a decline recovered by the second retry, a hard decline that ends it;
month-end anchors across a leap year; weekly and yearly plans; and the same
scenario run twice giving the same invoices and attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway.core.crypto import FieldCrypto
from gateway.payments.models import Transaction
from gateway.subscriptions.billing.dunning import jitter
from tests.subscriptions.conftest import Api, Billing, Clocks


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def months_after(start: datetime, months: int) -> datetime:
    """The same day and time `months` later (days up to 28 only)."""
    index = start.month - 1 + months
    return start.replace(year=start.year + index // 12, month=index % 12 + 1)


# The 14-month scenario: the card's answers, in order. Month 3 is declined twice and
# paid by the second retry; month 9 is a hard decline (reason 4: pick up card).
SCRIPT = ",".join(["approve"] * 2 + ["decline"] * 2 + ["approve"] * 6 + ["decline:4"])
TRIAL_START = "2026-01-15T12:00:00Z"
FIRST_CHARGE = datetime(2026, 1, 29, 12, tzinfo=UTC)  # the end of a 14-day trial


async def fourteen_months(api: Api, clocks: Clocks, billing: Billing) -> dict[str, Any]:
    """Run the scenario month by month; what a client sees along the way and at the end."""
    clock_id = await clocks.create(TRIAL_START)
    method = await api.payment_method()
    await billing.script(method, SCRIPT)
    created = await api.subscribe(method, test_clock_id=clock_id, trial_days=14)
    statuses = [created["status"]]
    start = at(TRIAL_START)
    for month in range(1, 15):
        await clocks.to(clock_id, iso(months_after(start, month)))
        statuses.append((await api.one(created["id"]))["status"])
    return {
        "subscription": await api.one(created["id"]),
        "invoices": await api.invoices(created["id"]),
        "statuses": statuses,
        "charges": [
            await api.transaction(attempt["transaction_id"])
            for invoice in await api.invoices(created["id"])
            for attempt in invoice["attempts"]
        ],
        "events": await billing.events(created["id"]),
    }


async def test_fourteen_months_with_a_trial_a_recovered_decline_and_a_hard_decline(
    api: Api, clocks: Clocks, billing: Billing
) -> None:
    seen = await fourteen_months(api, clocks, billing)
    subscription, invoices = seen["subscription"], seen["invoices"]

    # Trial for two weeks, then monthly on the 29th (Feb 28 in 2026).
    assert subscription["trial_end"] == iso(FIRST_CHARGE)
    days = ["01-29", "02-28", "03-29", "04-29", "05-29", "06-29", "07-29", "08-29", "09-29"]
    starts = [f"2026-{day}T12:00:00Z" for day in days]
    assert [invoice["period_start"] for invoice in invoices] == starts
    assert [invoice["status"] for invoice in invoices] == ["paid"] * 8 + ["uncollectible"]

    # Month 3: declined, the first retry declined, the second retry paid.
    month_3 = invoices[2]
    assert [attempt["status"] for attempt in month_3["attempts"]] == [
        "declined",
        "declined",
        "succeeded",
    ]
    assert [attempt["decline_code"] for attempt in month_3["attempts"]] == ["2", "2", None]
    due = at(month_3["period_start"])
    shift = jitter(month_3["id"], _digest(billing.crypto))
    assert [attempt["attempted_at"] for attempt in month_3["attempts"]] == [
        iso(due),
        iso(due + timedelta(days=1) + shift),
        iso(due + timedelta(days=3) + shift),
    ]
    assert [attempt["next_attempt_at"] for attempt in month_3["attempts"]] == [
        iso(due + timedelta(days=1) + shift),
        iso(due + timedelta(days=3) + shift),
        None,
    ]
    # The recovery kept the anchor: month 4 is billed on the 29th again.
    assert invoices[3]["period_start"] == "2026-04-29T12:00:00Z"

    # Month 9: a hard decline, no retry, canceled at that moment.
    [hard] = invoices[8]["attempts"]
    assert (hard["status"], hard["decline_code"], hard["next_attempt_at"]) == (
        "declined",
        "4",
        None,
    )
    assert subscription["status"] == "canceled"
    assert subscription["canceled_at"] == invoices[8]["period_start"] == "2026-09-29T12:00:00Z"
    assert subscription["next_billing_at"] is None
    assert subscription["cycles_billed"] == 8
    assert subscription["failed_attempts"] == 1

    # As a client saw it, month by month (each advance answered after the work ran).
    assert seen["statuses"] == [
        "trialing",  # created
        "active",  # Feb 15: paid at trial end
        "active",
        "active",  # Apr 15: month 3 recovered on Apr 1
        "active",
        "active",
        "active",
        "active",
        "active",
        "canceled",  # Oct 15: month 9 hard-declined on Sep 29
        *["canceled"] * 5,
    ]
    assert [charge["status"] for charge in seen["charges"]] == (
        ["captured"] * 2 + ["declined"] * 2 + ["captured"] * 6 + ["declined"]
    )
    assert sum(charge["status"] == "captured" for charge in seen["charges"]) == 8
    # The hard decline: the subscription ends, and the failed renewal is an event too.
    assert seen["events"][-2:] == [
        ("active", "canceled", "billing"),
        ("canceled", "canceled", "billing"),
    ]


async def test_the_same_scenario_twice_gives_the_same_invoices_and_attempts(
    api: Api, clocks: Clocks, billing: Billing
) -> None:
    first = _comparable(await fourteen_months(api, clocks, billing), billing.crypto)
    second = _comparable(await fourteen_months(api, clocks, billing), billing.crypto)
    assert first == second
    assert len(first["invoices"]) == 9


def _digest(crypto: FieldCrypto) -> Any:
    return lambda text: crypto.fingerprints.digest("dunning-jitter", text)


def _comparable(seen: dict[str, Any], crypto: FieldCrypto) -> dict[str, Any]:
    """Everything but generated ids and the per-invoice jitter (an HMAC of the
    invoice's random id, API.md), which is taken off the retry times it shifts."""
    ids = ("id", "transaction_id", "subscription_id", "payment_method", "test_clock_id")

    def plain(row: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in row.items() if name not in ids}

    invoices = []
    for invoice in seen["invoices"]:
        shift = jitter(invoice["id"], _digest(crypto))
        attempts = []
        for attempt in invoice["attempts"]:
            shown = plain(attempt)
            for name in ("attempted_at", "next_attempt_at"):
                moment = shown[name]
                if (
                    moment is not None
                    and attempt["decline_code"] != "4"
                    and moment != (invoice["period_start"])
                ):
                    shown[name] = iso(at(moment) - shift)
            attempts.append(shown)
        invoices.append({**plain(invoice), "attempts": attempts})
    charges = [
        {
            name: charge[name]
            for name in ("status", "amount", "currency", "type", "decline_code", "created_at")
        }
        for charge in seen["charges"]
    ]
    for charge, attempt in zip(charges, [a for i in invoices for a in i["attempts"]], strict=True):
        charge["created_at"] = attempt["attempted_at"]  # jitter off, as above
    subscription = {
        name: value
        for name, value in plain(seen["subscription"]).items()
        if name not in ("created_at",)
    }
    return {
        "subscription": subscription,
        "invoices": invoices,
        "statuses": seen["statuses"],
        "charges": charges,
        "events": seen["events"],
    }


async def test_a_jan_31_anchor_across_a_leap_year(api: Api, clocks: Clocks) -> None:
    clock_id = await clocks.create("2027-01-31T09:30:00Z")
    created = await api.subscribe(test_clock_id=clock_id)
    await clocks.to(clock_id, "2028-04-15T00:00:00Z")  # one advance, 14 renewals

    invoices = await api.invoices(created["id"])
    days = ["31", "28", "31", "30", "31", "30", "31", "31", "30", "31", "30", "31"]
    expected = [f"2027-{month:02d}-{day}T09:30:00Z" for month, day in enumerate(days, 1)]
    expected += ["2028-01-31T09:30:00Z", "2028-02-29T09:30:00Z", "2028-03-31T09:30:00Z"]
    assert [invoice["period_start"] for invoice in invoices] == expected
    assert [invoice["period_end"] for invoice in invoices] == [
        *expected[1:],
        "2028-04-30T09:30:00Z",
    ]
    assert all(invoice["status"] == "paid" for invoice in invoices)
    subscription = await api.one(created["id"])
    assert (subscription["cycles_billed"], subscription["next_billing_at"]) == (
        15,
        "2028-04-30T09:30:00Z",
    )


async def test_a_weekly_plan_with_a_trial_runs_its_cycles_then_expires(
    api: Api, clocks: Clocks
) -> None:
    clock_id = await clocks.create("2026-03-02T08:00:00Z")
    created = await api.subscribe(
        test_clock_id=clock_id, interval="week", trial_days=3, total_cycles=4
    )
    await clocks.to(clock_id, "2026-05-01T00:00:00Z")

    invoices = await api.invoices(created["id"])
    assert [invoice["period_start"] for invoice in invoices] == [
        "2026-03-05T08:00:00Z",
        "2026-03-12T08:00:00Z",
        "2026-03-19T08:00:00Z",
        "2026-03-26T08:00:00Z",
    ]
    assert all(invoice["status"] == "paid" for invoice in invoices)
    subscription = await api.one(created["id"])
    assert (subscription["status"], subscription["cycles_billed"]) == ("expired", 4)
    assert subscription["current_period_end"] == "2026-04-02T08:00:00Z"
    assert subscription["next_billing_at"] is None


async def test_a_yearly_plan_from_feb_29(api: Api, clocks: Clocks, billing: Billing) -> None:
    clock_id = await clocks.create("2028-02-29T00:00:00Z")
    # A card that outlives the test (an expired one is a hard decline).
    method = await api.payment_method(exp_year=2040)
    created = await api.subscribe(method, test_clock_id=clock_id, interval="year", amount=12000)
    await clocks.to(clock_id, "2030-01-01T00:00:00Z")
    await clocks.to(clock_id, "2032-03-01T00:00:00Z")

    invoices = await api.invoices(created["id"])
    assert [invoice["period_start"] for invoice in invoices] == [
        "2028-02-29T00:00:00Z",
        "2029-02-28T00:00:00Z",
        "2030-02-28T00:00:00Z",
        "2031-02-28T00:00:00Z",
        "2032-02-29T00:00:00Z",
    ]
    assert {invoice["amount"] for invoice in invoices} == {12000}
    async with billing.sessions() as session:
        charged = (
            await session.scalars(
                select(Transaction.created_at)
                .where(Transaction.subscription_id == created["id"])
                .order_by(Transaction.created_at)
            )
        ).all()
    assert [iso(moment) for moment in charged] == [i["period_start"] for i in invoices]


async def test_an_unknown_outcome_on_a_clock_is_resolved_before_the_advance_answers(
    api: Api, clocks: Clocks, billing: Billing
) -> None:
    clock_id = await clocks.create()
    method = await api.payment_method()
    created = await api.subscribe(method, test_clock_id=clock_id)
    await billing.script(method, "timeout")  # taken by the processor, the answer lost
    await clocks.to(clock_id, "2026-04-02T00:00:00Z")

    [_, renewal] = await api.invoices(created["id"])
    [attempt] = renewal["attempts"]
    assert (renewal["status"], attempt["status"]) == ("paid", "succeeded")
    charge = await api.transaction(attempt["transaction_id"])
    assert charge["status"] == "captured"
    assert await billing.charges_sent([attempt["transaction_id"]]) == 1  # never sent twice
    assert (await api.one(created["id"]))["cycles_billed"] == 2
