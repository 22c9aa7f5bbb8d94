"""Issue 18's mapping table, row by row, through the flows that make each history
event (the API, the sweeps, billing passes, test clocks): what an endpoint
subscribed to everything is told of one object, in its sequence's order."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator
from gateway.subscriptions.models import Subscription
from gateway.webhooks.outbound.mapping import event_type_of
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body
from tests.payments.conftest import Sweeps
from tests.payments.test_compensation import after_the_window, orphan
from tests.subscriptions.conftest import (
    Api,
    Billing,
    Clocks,
    new_subscription,
)
from tests.subscriptions.test_billing import until_due
from tests.webhooks.outbound.relaying import Outbound


def trigger(dollars: int) -> dict[str, Any]:
    """ANET.md's reason-code card: the amount in dollars is the outcome."""
    return charge_body(dollars * 100, number=TRIGGER_CARD)


async def charged(post: Post, path: str, body: dict[str, Any], status: int = 201) -> str:
    response = await post(path, body)
    assert response.status_code == status, response.text
    return str(response.json().get("id") or response.json()["transaction_id"])


# -- payments ----------------------------------------------------------------------------


async def test_a_purchase_approved_is_payment_captured_and_its_phase_1_is_never_told(
    post: Post, outbound: Outbound
) -> None:
    await outbound.endpoint()
    purchase = await charged(post, "purchase", charge_body(1500))
    assert await outbound.types(purchase) == ["payment.captured"]


async def test_an_authorization_captured_then_refunded_is_told_on_the_parent_only(
    post: Post, outbound: Outbound, db_session: AsyncSession, simulator: Simulator
) -> None:
    await outbound.endpoint()
    authorization = await charged(post, "authorize", charge_body(1500))
    capture = await charged(post, "capture", {"transaction_id": authorization})
    await SettlementService(db_session, simulator).settle(everything=True)
    await db_session.commit()
    partial = await charged(post, "refund", {"transaction_id": authorization, "amount": 500})
    rest = await charged(post, "refund", {"transaction_id": authorization})

    assert await outbound.types(authorization) == [
        "payment.authorized",
        "payment.captured",
        "payment.refunded",  # partially_refunded
        "payment.refunded",
    ]
    children = {capture, partial, rest} - {authorization}
    for child in children:
        assert await outbound.types(child) == [], "captures, refunds, voids are never told"


async def test_an_authorization_cancelled_is_payment_voided(post: Post, outbound: Outbound) -> None:
    await outbound.endpoint()
    authorization = await charged(post, "authorize", charge_body(1500))
    response = await post("cancel", {"transaction_id": authorization})
    assert response.status_code == 200, response.text
    assert await outbound.types(authorization) == ["payment.authorized", "payment.voided"]


async def test_a_decline_is_payment_declined_and_a_processor_error_payment_failed(
    post: Post, outbound: Outbound
) -> None:
    await outbound.endpoint()
    declined = await charged(post, "purchase", trigger(2), status=402)
    failed = await charged(post, "purchase", trigger(19), status=502)
    assert await outbound.types(declined) == ["payment.declined"]
    assert await outbound.types(failed) == ["payment.failed"]


async def test_a_202_unknown_outcome_is_payment_pending_then_what_reconciliation_finds(
    post: Post, outbound: Outbound, sweeps: Sweeps
) -> None:
    await outbound.endpoint()
    pending = await charged(post, "purchase", trigger(901), status=202)
    assert await outbound.types(pending) == ["payment.pending"]

    sweeps.past_the_lock()
    assert (await sweeps.reconcile()).resolved

    told = await outbound.types(pending)
    assert told[0] == "payment.pending"
    assert told[1:] in (["payment.captured"], ["payment.failed"], ["payment.declined"])


async def test_a_202_held_for_review_is_payment_requires_review_told_once(
    post: Post, outbound: Outbound, sweeps: Sweeps
) -> None:
    await outbound.endpoint()
    held = await charged(post, "purchase", trigger(252), status=202)
    sweeps.past_the_lock()
    await sweeps.reconcile(now=True)  # still held: the same reason again adds nothing
    assert await outbound.types(held) == ["payment.requires_review"]


async def test_an_authorization_left_to_expire_is_payment_expired(
    post: Post, outbound: Outbound, sweeps: Sweeps
) -> None:
    await outbound.endpoint()
    authorization = await charged(post, "authorize", charge_body(1500))
    sweeps.clock.advance(timedelta(days=sweeps.settings.auth_expiry_days, hours=1))
    assert (await sweeps.expire()).expired == 1
    assert await outbound.types(authorization) == ["payment.authorized", "payment.expired"]


async def test_a_compensation_that_fails_is_payment_requires_review_and_its_notes_are_not_told(
    post: Post, outbound: Outbound, sweeps: Sweeps, simulator: Simulator
) -> None:
    await outbound.endpoint()
    voiding = sweeps.configured(orphan_policy="void")
    charge = await orphan(post, voiding)
    await simulator.settle(everything=True)  # its void will fail: a person must look
    after_the_window(voiding)
    assert (await voiding.compensate()).requires_review == 1
    assert await outbound.types(charge) == [
        "payment.pending",
        "payment.captured",
        "payment.requires_review",
    ]


@pytest.mark.parametrize(
    ("from_status", "to_status", "occasion", "expected"),
    [
        ("captured", "requires_review", None, "payment.requires_review"),
        ("pending", "pending", "processor_review", "payment.requires_review"),
        ("pending", "pending", "unknown_outcome", "payment.pending"),
        ("captured", "captured", None, None),  # a compensation's note
        (None, "pending", None, None),
    ],
)
def test_the_table_on_bare_events(
    from_status: str | None, to_status: str, occasion: str | None, expected: str | None
) -> None:
    """The table itself, on bare events: and a child's, an invoice's or a payment
    method's history is never told."""
    event = _Event("transaction", from_status, to_status, occasion)
    assert event_type_of(event, transaction_type="purchase") == expected
    assert event_type_of(event, transaction_type="refund") is None
    assert event_type_of(_Event("invoice", "open", "paid", None)) is None
    assert event_type_of(_Event("payment_method", None, "active", None)) is None


class _Event:
    def __init__(
        self, object_type: str, from_status: str | None, to_status: str, occasion: str | None
    ) -> None:
        self.object_type = object_type
        self.from_status = from_status
        self.to_status = to_status
        self.occasion = occasion


# -- subscriptions -----------------------------------------------------------------------


async def test_a_subscription_created_then_renewed_is_created_then_renewed(
    api: Api, billing: Billing, outbound: Outbound
) -> None:
    await outbound.endpoint()
    created = await api.subscribe()
    assert await outbound.types(created["id"]) == ["subscription.created"]
    await until_due(api, billing, created["id"])
    await until_due(api, billing, created["id"])
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.renewed",
        "subscription.renewed",
    ]
    renewed = (await outbound.deliveries(object_id=created["id"]))[-1]
    invoices = await api.invoices(created["id"])
    assert await _related(billing, renewed.event_id) == invoices[-1]["id"]


async def test_a_failed_renewal_is_past_due_and_payment_failed_then_renewed_when_paid(
    api: Api, billing: Billing, outbound: Outbound
) -> None:
    await outbound.endpoint()
    method = await api.payment_method()
    created = await api.subscribe(method)
    await billing.script(method, "decline,approve")
    await until_due(api, billing, created["id"])
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.past_due",
        "subscription.payment_failed",
    ]
    recovered = await until_due(api, billing, created["id"])
    assert recovered["status"] == "active"
    told = await outbound.types(created["id"])
    assert told[3:] == ["subscription.renewed"], "→ active itself is not told"


async def test_each_failed_retry_is_payment_failed_and_dunning_s_end_is_told(
    api: Api, billing: Billing, outbound: Outbound
) -> None:
    await outbound.endpoint()
    method = await api.payment_method()
    created = await api.subscribe(method)
    await billing.script(method, "decline,decline,decline,decline,decline")
    for _ in range(5):
        await until_due(api, billing, created["id"])
    assert (await api.one(created["id"]))["status"] == "canceled"
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.past_due",
        "subscription.payment_failed",
        "subscription.payment_failed",
        "subscription.payment_failed",
        "subscription.payment_failed",
        "subscription.canceled",
        "subscription.payment_failed",
    ]


async def test_a_pause_and_a_cancel_are_told(api: Api, outbound: Outbound) -> None:
    await outbound.endpoint()
    created = await api.subscribe()
    assert (await api.put(created["id"], {"pause": True})).status_code == 200
    assert (await api.put(created["id"], {"pause": False})).status_code == 200
    assert (await api.delete(created["id"])).status_code == 200
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.paused",
        "subscription.canceled",
    ]


async def test_a_subscription_past_its_last_cycle_is_expired(
    api: Api, billing: Billing, outbound: Outbound
) -> None:
    await outbound.endpoint()
    created = await api.subscribe(total_cycles=1)
    ended = await until_due(api, billing, created["id"])
    assert ended["status"] == "expired"
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.expired",
    ]


async def test_a_trial_ending_paid_is_a_renewal(
    api: Api, billing: Billing, outbound: Outbound
) -> None:
    await outbound.endpoint()
    created = await api.subscribe(trial_days=7)
    await until_due(api, billing, created["id"])
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.renewed",
    ]


async def test_a_failed_creation_is_never_told_but_its_declined_charge_is(
    api: Api, billing: Billing, outbound: Outbound
) -> None:
    await outbound.endpoint()
    method = await api.payment_method(TRIGGER_CARD)
    response = await api.create(new_subscription(method, amount=200))
    assert response.status_code == 402, response.text
    async with billing.sessions() as session:
        subscription = (await session.scalars(select(Subscription))).one()
    assert await outbound.types(subscription.id) == []
    assert await outbound.types(response.json()["transaction_id"]) == ["payment.declined"]


async def test_a_test_clock_advance_renews_as_billing_does(
    api: Api, clocks: Clocks, outbound: Outbound
) -> None:
    await outbound.endpoint()
    clock_id = await clocks.create("2026-03-01T10:00:00Z")
    created = await api.subscribe(test_clock_id=clock_id)
    advanced = await clocks.advance(clock_id, "2026-04-01T10:00:00Z")
    assert advanced.status_code == 200, advanced.text
    assert await outbound.types(created["id"]) == [
        "subscription.created",
        "subscription.renewed",
    ]


async def _related(billing: Billing, event_id: str) -> str | None:
    async with billing.sessions() as session:
        event = await session.get(Event, event_id)
        assert event is not None
        return event.related_id
