"""Processing stored events (issue point 2): the truth is fetched from the processor
by id and applied through the payments service, with actor `webhook`. Duplicates,
out-of-order deliveries and forged events change nothing wrong; unknown
transactions are asked about again for a grace window.

These run the worker's code on the test's sessions and clock; the RQ side
(retries, dead letters, replays by real workers) is in test_workers.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.audit.models import Event
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.store import IdempotencyStore, KeyScope
from gateway.merchants.models import Merchant
from gateway.payments.models import Transaction
from gateway.processors.port import CaptureRequest, NotSentError, RefundRequest, VoidRequest
from gateway.processors.simulator import Simulator
from gateway.webhooks.errors import EventNotMatched, NoConnector, TransactionBusy
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.processing import WebhookProcessing
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body
from tests.processors import charge
from tests.webhooks import notification
from tests.webhooks.conftest import Deliver, simulator_webhook

Get = Any


async def receive(deliver: Deliver, body: bytes, *, path: str = "simulator") -> str:
    response = await deliver(body, path=path)
    assert response.status_code == 200, response.text
    event_id: str = response.json()["id"]
    return event_id


async def event_row(sessions: async_sessionmaker[AsyncSession], event_id: str) -> WebhookEvent:
    async with sessions() as session:
        event = await session.get(WebhookEvent, event_id)
        assert event is not None
        return event


def pending_purchase(reference: str, merchant: Merchant, clock: FrozenClock) -> Transaction:
    """Our pending record of a $15.00 purchase sent under `reference`."""
    return Transaction(
        id=reference,
        merchant_id=merchant.id,
        livemode=False,
        type="purchase",
        status="pending",
        pending_reason="unknown_outcome",
        amount=1500,
        currency="USD",
        amount_captured=0,
        amount_refunded=0,
        metadata_={},
        processor="simulator",
        created_at=clock.now(),
        updated_at=clock.now(),
    )


async def details(get: Get, transaction_id: str) -> dict[str, Any]:
    response = await get(f"/{transaction_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def event_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Event)) or 0)


async def children(get: Get, kind: str) -> list[dict[str, Any]]:
    response = await get("", type=kind)
    assert response.status_code == 200
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


# -- what happened at the processor is applied -------------------------------------


async def test_a_held_charge_approved_at_the_processor_becomes_captured(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    merchant: Merchant,
) -> None:
    held = await post("purchase", charge_body(25200, number=TRIGGER_CARD))
    assert held.status_code == 202, held.text
    assert held.json()["pending_reason"] == "processor_review"
    transaction_id = held.json()["id"]
    await simulator.review(transaction_id, "approve")
    processor_id = held.json()["processor_transaction_id"]
    event_id = await receive(
        deliver, await simulator_webhook(engine, processor_id, "fraud.approved")
    )

    outcome = await processing.process(event_id, last_attempt=False)

    assert outcome == "applied"
    captured = await details(get, transaction_id)
    assert captured["status"] == "captured"
    assert captured["pending_reason"] is None
    last = captured["events"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "pending",
        "captured",
        "webhook",
    )
    assert last["request_id"] == event_id, "the event that caused the change is named"
    event = await event_row(session_factory, event_id)
    assert (event.status, event.outcome, event.attempts) == ("processed", "applied", 1)
    assert (event.merchant_id, event.livemode, event.transaction_id) == (
        merchant.id,
        False,
        transaction_id,
    )


async def test_a_held_charge_declined_at_the_processor_becomes_declined(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
) -> None:
    held = await post("authorize", charge_body(25300, number=TRIGGER_CARD))
    assert held.status_code == 202, held.text
    await simulator.review(held.json()["id"], "decline")
    body = await simulator_webhook(
        engine, held.json()["processor_transaction_id"], "fraud.declined"
    )

    assert await processing.process(await receive(deliver, body), last_attempt=False) == "applied"

    declined = await details(get, held.json()["id"])
    assert declined["status"] == "declined"
    assert declined["events"][-1]["actor"] == "webhook"


async def test_a_lost_answer_is_finished_by_its_webhook_as_reconciliation_would(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    pending = await post("purchase", charge_body(90100, number=TRIGGER_CARD))
    assert pending.status_code == 202
    assert pending.json()["pending_reason"] == "unknown_outcome"
    found = await simulator.find_by_reference(pending.json()["id"])
    assert found is not None
    body = await simulator_webhook(engine, found.processor_transaction_id, "authcapture.created")

    assert await processing.process(await receive(deliver, body), last_attempt=False) == "applied"

    captured = await details(get, pending.json()["id"])
    assert captured["status"] == "captured"
    assert captured["processor_transaction_id"] == found.processor_transaction_id
    async with session_factory() as session:
        row = await session.get(Transaction, pending.json()["id"])
        assert row is not None
        # Its client was told 202: compensation judges it, as after reconciliation.
        assert row.orphan_since is not None


async def test_a_capture_made_at_the_processor_is_recorded(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
) -> None:
    authorized = await post("authorize", charge_body(5000))
    processor_id = authorized.json()["processor_transaction_id"]
    console = CaptureRequest(
        reference="console-capture", processor_transaction_id=processor_id,
        amount=4000, currency="USD",
    )  # fmt: skip
    await simulator.capture(console)
    body = await simulator_webhook(engine, processor_id, "priorAuthCapture.created")

    assert await processing.process(await receive(deliver, body), last_attempt=False) == "applied"

    parent = await details(get, authorized.json()["id"])
    assert (parent["status"], parent["amount_captured"]) == ("captured", 4000)
    assert parent["events"][-1]["actor"] == "webhook"
    [capture] = await children(get, "capture")
    assert capture["parent_id"] == parent["id"]
    assert (capture["status"], capture["amount"]) == ("succeeded", 4000)
    assert capture["reason"] == "made at the processor"
    # It is refundable like any capture: the money rules hold.
    assert (await post("cancel", {"transaction_id": parent["id"]})).status_code == 200


async def test_a_lost_authorization_captured_since_at_the_processor_ends_captured(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
) -> None:
    pending = await post("authorize", charge_body(90100, number=TRIGGER_CARD))
    assert pending.json()["pending_reason"] == "unknown_outcome"
    found = await simulator.find_by_reference(pending.json()["id"])
    assert found is not None
    processor_id = found.processor_transaction_id
    await simulator.capture(CaptureRequest("console", processor_id, None, "USD"))
    body = await simulator_webhook(engine, processor_id, "priorAuthCapture.created")

    assert await processing.process(await receive(deliver, body), last_attempt=False) == "applied"

    parent = await details(get, pending.json()["id"])
    assert [(e["from_status"], e["to_status"]) for e in parent["events"]] == [
        (None, "pending"),
        ("pending", "pending"),  # the 202 answered: an event of its own (issue 18)
        ("pending", "authorized"),
        ("authorized", "captured"),
    ]
    assert parent["amount_captured"] == 90100
    [capture] = await children(get, "capture")
    assert capture["status"] == "succeeded"


async def test_a_void_made_at_the_processor_is_recorded(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
) -> None:
    authorized = await post("authorize", charge_body(5000))
    processor_id = authorized.json()["processor_transaction_id"]
    await simulator.void(VoidRequest("console-void", processor_id))
    body = await simulator_webhook(engine, processor_id, "void.created")

    assert await processing.process(await receive(deliver, body), last_attempt=False) == "applied"

    assert (await details(get, authorized.json()["id"]))["status"] == "voided"
    [void] = await children(get, "void")
    assert (void["status"], void["reason"]) == ("succeeded", "made at the processor")


async def test_a_refund_made_at_the_processor_is_recorded_once(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
) -> None:
    purchase = await post("purchase", charge_body(5000))
    processor_id = purchase.json()["processor_transaction_id"]
    await simulator.settle(everything=True)
    refunded = await simulator.refund(
        RefundRequest("console-refund", processor_id, 1500, "USD", "1111")
    )
    assert refunded.processor_transaction_id is not None
    body = await simulator_webhook(engine, refunded.processor_transaction_id, "refund.created")

    first = await processing.process(await receive(deliver, body), last_attempt=False)
    # The processor tells it again, under a new notification id.
    again = notification(
        refunded.processor_transaction_id, event_type="net.authorize.payment.refund.created"
    )
    second = await processing.process(await receive(deliver, again), last_attempt=False)

    assert (first, second) == ("applied", "unchanged")
    parent = await details(get, purchase.json()["id"])
    assert (parent["status"], parent["amount_refunded"]) == ("partially_refunded", 1500)
    [refund] = await children(get, "refund")
    assert refund["processor_transaction_id"] == refunded.processor_transaction_id
    assert refund["amount"] == 1500


# -- nothing wrong happens ------------------------------------------------------------


async def test_a_duplicate_or_replayed_event_changes_nothing(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    purchase = await post("purchase", charge_body(1500))
    processor_id = purchase.json()["processor_transaction_id"]
    body = await simulator_webhook(engine, processor_id, "authcapture.created")
    event_id = await receive(deliver, body)
    assert await receive(deliver, body) == event_id, "stored once"
    events_before = await event_count(session_factory)

    assert await processing.process(event_id, last_attempt=False) == "unchanged"
    # A second job for the same event (a stale retry) finds it processed.
    assert await processing.process(event_id, last_attempt=False) == "already_processed"

    assert await event_count(session_factory) == events_before
    assert (await details(get, purchase.json()["id"]))["status"] == "captured"
    event = await event_row(session_factory, event_id)
    assert (event.outcome, event.transaction_id) == ("unchanged", purchase.json()["id"])


async def test_an_older_event_delivered_late_never_takes_a_transaction_back(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    authorized = await post("authorize", charge_body(5000))
    processor_id = authorized.json()["processor_transaction_id"]
    await simulator.void(VoidRequest("console-void", processor_id))
    created = await simulator_webhook(engine, processor_id, "authorization.created")
    voided = await simulator_webhook(engine, processor_id, "void.created")

    # Delivered newest first.
    assert await processing.process(await receive(deliver, voided), last_attempt=False) == "applied"
    events_after_void = await event_count(session_factory)
    late = await processing.process(await receive(deliver, created), last_attempt=False)

    assert late == "unchanged"
    assert (await details(get, authorized.json()["id"]))["status"] == "voided"
    assert await event_count(session_factory) == events_after_void


async def test_a_capture_of_ours_then_its_authorization_event_changes_nothing(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    engine: AsyncEngine,
) -> None:
    authorized = await post("authorize", charge_body(5000))
    processor_id = authorized.json()["processor_transaction_id"]
    assert (await post("capture", {"transaction_id": authorized.json()["id"]})).status_code == 201
    for event_type in ("priorAuthCapture.created", "authorization.created"):
        body = await simulator_webhook(engine, processor_id, event_type)
        assert await processing.process(await receive(deliver, body), last_attempt=False) == (
            "unchanged"
        )
    assert len(await children(get, "capture")) == 1, "no second capture is recorded"
    assert (await details(get, authorized.json()["id"]))["status"] == "captured"


async def test_a_forged_event_whose_fetched_truth_contradicts_it_changes_nothing(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    purchase = await post("purchase", charge_body(1500))
    forged = notification(
        purchase.json()["processor_transaction_id"],
        event_type="net.authorize.payment.void.created",
        reference=purchase.json()["id"],
    )
    events_before = await event_count(session_factory)

    outcome = await processing.process(await receive(deliver, forged), last_attempt=False)

    assert outcome == "unchanged"
    assert (await details(get, purchase.json()["id"]))["status"] == "captured"
    assert await children(get, "void") == []
    assert await event_count(session_factory) == events_before


async def test_a_reference_pointing_at_another_transaction_is_not_believed(
    post: Post,
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
) -> None:
    """The record fetched by id names its own reference: the payload's is not used."""
    authorized = await post("authorize", charge_body(5000))
    elsewhere = await simulator.authorize(charge(700))
    assert elsewhere.processor_transaction_id is not None
    await simulator.void(VoidRequest("console", elsewhere.processor_transaction_id))
    forged = notification(
        elsewhere.processor_transaction_id,
        event_type="net.authorize.payment.void.created",
        reference=authorized.json()["id"],
    )

    with pytest.raises(EventNotMatched):
        await processing.process(await receive(deliver, forged), last_attempt=False)

    assert (await details(get, authorized.json()["id"]))["status"] == "authorized"


async def test_a_payload_cannot_point_a_record_at_a_pending_transaction_of_ours(
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    session_factory: async_sessionmaker[AsyncSession],
    merchant: Merchant,
    clock: FrozenClock,
) -> None:
    """Ours has no processor id yet (its answer was lost): only the record's own
    reference may match it, never the one a payload claims."""
    ours = new_id("txn")
    async with session_factory() as session:
        session.add(pending_purchase(ours, merchant, clock))
        await session.commit()
    other = await simulator.purchase(charge(1500, ref=new_id("txn")))
    assert other.processor_transaction_id is not None
    forged = notification(other.processor_transaction_id, reference=ours)

    with pytest.raises(EventNotMatched):
        await processing.process(await receive(deliver, forged), last_attempt=False)

    assert (await details(get, ours))["status"] == "pending"


# -- unknown transactions -----------------------------------------------------------------


async def test_an_unknown_transaction_is_asked_again_then_processed_unmatched(
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    taken = await simulator.purchase(charge(1500, ref=new_id("txn")))
    assert taken.processor_transaction_id is not None
    body = await simulator_webhook(engine, taken.processor_transaction_id, "authcapture.created")
    event_id = await receive(deliver, body)

    with pytest.raises(EventNotMatched):
        await processing.process(event_id, last_attempt=False)
    failed = await event_row(session_factory, event_id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None
    assert failed.last_error.startswith("EventNotMatched: no transaction matches")

    clock.advance(timedelta(seconds=settings.webhooks.webhook_unmatched_grace_s))
    assert await processing.process(event_id, last_attempt=False) == "unmatched"

    event = await event_row(session_factory, event_id)
    assert (event.status, event.outcome, event.attempts) == ("processed", "unmatched", 2)
    assert event.merchant_id is None, "seen only by operators (gateway webhooks list)"


async def test_an_unknown_transaction_on_its_last_attempt_is_processed_unmatched(
    deliver: Deliver, processing: WebhookProcessing, simulator: Simulator, engine: AsyncEngine
) -> None:
    taken = await simulator.authorize(charge(1500, ref=new_id("txn")))
    assert taken.processor_transaction_id is not None
    body = await simulator_webhook(engine, taken.processor_transaction_id, "authorization.created")
    event_id = await receive(deliver, body)
    assert await processing.process(event_id, last_attempt=True) == "unmatched"


async def test_an_id_the_processor_does_not_know_is_unmatched_too(
    deliver: Deliver, processing: WebhookProcessing, clock: FrozenClock, settings: Settings
) -> None:
    event_id = await receive(deliver, notification("99999999999"))
    with pytest.raises(EventNotMatched):
        await processing.process(event_id, last_attempt=False)
    clock.advance(timedelta(seconds=settings.webhooks.webhook_unmatched_grace_s))
    assert await processing.process(event_id, last_attempt=False) == "unmatched"


async def test_an_unknown_transaction_matched_within_the_grace_window_is_applied(
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    merchant: Merchant,
    clock: FrozenClock,
) -> None:
    reference = new_id("txn")
    taken = await simulator.purchase(charge(1500, ref=reference))
    assert taken.processor_transaction_id is not None
    body = await simulator_webhook(engine, taken.processor_transaction_id, "authcapture.created")
    event_id = await receive(deliver, body)
    with pytest.raises(EventNotMatched):
        await processing.process(event_id, last_attempt=False)

    # Our record of that charge appears (say, a renewal's pending attempt committed late).
    async with session_factory() as session:
        session.add(pending_purchase(reference, merchant, clock))
        await session.commit()
    clock.advance(timedelta(seconds=10))

    assert await processing.process(event_id, last_attempt=False) == "applied"
    assert (await details(get, reference))["status"] == "captured"
    event = await event_row(session_factory, event_id)
    assert (event.status, event.attempts, event.last_error) == ("processed", 2, None)


# -- when it is not the job's turn, or it cannot be done ------------------------------------


async def test_a_transaction_whose_request_is_still_running_is_left_to_it(
    get: Get,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    merchant: Merchant,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
) -> None:
    reference = new_id("txn")
    async with session_factory() as session:
        session.add(pending_purchase(reference, merchant, clock))
        store = IdempotencyStore(
            session, clock=clock, crypto=field_crypto, lock_seconds=90, retention_hours=72
        )
        _, held = await store.claim(
            KeyScope(merchant.id, False, "running"), RequestFingerprint(current="v2:f", legacy="")
        )
        await store.mark_reserved(held.id, reference)
        await session.commit()
    taken = await simulator.purchase(charge(1500, ref=reference))
    assert taken.processor_transaction_id is not None
    body = await simulator_webhook(engine, taken.processor_transaction_id, "authcapture.created")
    event_id = await receive(deliver, body)

    with pytest.raises(TransactionBusy):
        await processing.process(event_id, last_attempt=False)

    assert (await details(get, reference))["status"] == "pending", "its phase 3 decides"
    assert (await event_row(session_factory, event_id)).status == "failed"


async def test_a_failure_on_the_last_attempt_makes_the_event_dead(
    post: Post,
    deliver: Deliver,
    processing: WebhookProcessing,
    simulator: Simulator,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    purchase = await post("purchase", charge_body(1500))
    processor_id = purchase.json()["processor_transaction_id"]
    event_id = await receive(
        deliver, await simulator_webhook(engine, processor_id, "authcapture.created")
    )
    await simulator.outage.turn(on=True)
    try:
        with pytest.raises(NotSentError):
            await processing.process(event_id, last_attempt=False)
        assert (await event_row(session_factory, event_id)).status == "failed"
        with pytest.raises(NotSentError):
            await processing.process(event_id, last_attempt=True)
    finally:
        await simulator.outage.turn(on=False)

    dead = await event_row(session_factory, event_id)
    assert (dead.status, dead.attempts) == ("dead", 2)
    assert dead.last_error is not None
    assert dead.last_error.startswith("NotSentError")


async def test_an_event_about_no_transaction_is_ignored(
    deliver: Deliver,
    processing: WebhookProcessing,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    body = notification(
        "394", event_type="net.authorize.customer.created", entity_name="customerProfile"
    )
    event_id = await receive(deliver, body)
    assert await processing.process(event_id, last_attempt=False) == "ignored"
    assert (await event_row(session_factory, event_id)).status == "processed"


async def test_authorize_net_events_need_its_connector(
    deliver: Deliver,
    processing: WebhookProcessing,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    event_id = await receive(deliver, notification("60019392075"), path="authorize-net")
    with pytest.raises(NoConnector):
        await processing.process(event_id, last_attempt=False)
    failed = await event_row(session_factory, event_id)
    assert failed.last_error is not None
    assert "no authorize_net connector" in failed.last_error


async def test_a_missing_event_is_reported_not_raised(processing: WebhookProcessing) -> None:
    assert await processing.process(new_id("we"), last_attempt=True) == "missing"
