"""Reconciliation of pending transactions against the simulator (ANET.md §9 triggers
901, 902, 252), through the same phase-3 code as the API, with every answer a
client then gets for its key."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.audit.models import Event
from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import create_session_factory
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.idempotency.keys import stored_key
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import RecoveryPoint, State
from gateway.merchants.models import Merchant
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.payments.operations import CancelOperation, CaptureOperation, RefundOperation
from gateway.payments.reconciliation import NOT_FOUND_REASON, backoff
from gateway.payments.schemas import CancelIn, CaptureIn, RefundIn
from gateway.payments.service import TransactionService
from gateway.payments.settlement import SettlementService
from gateway.payments.states import FailureKind
from gateway.processors.port import VoidRequest
from gateway.processors.simulator import Simulator
from tests.fixtures.app import test_processors as resilient_processors
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body
from tests.payments.conftest import Sweeps
from tests.processors import charge

LOST_AFTER_RECORDING = 901
LOST_UNRECORDED = 902
HELD_FOR_REVIEW = 252


def trigger(dollars: int) -> dict[str, Any]:
    return charge_body(dollars * 100, number=TRIGGER_CARD)


async def details(get: Any, transaction_id: str) -> dict[str, Any]:
    response = await get(f"/{transaction_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def last_event(transaction: dict[str, Any]) -> tuple[str | None, str, str]:
    event = transaction["events"][-1]
    return event["from_status"], event["to_status"], event["actor"]


def test_backoff_doubles_from_a_minute_up_to_half_an_hour() -> None:
    minutes = [backoff(attempts) / timedelta(minutes=1) for attempts in range(1, 9)]
    assert minutes == [1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff(10_000) == timedelta(minutes=30)


# -- charges ------------------------------------------------------------------------


async def test_a_purchase_whose_answer_was_lost_is_reconciled_to_captured(
    post: Post, get: Any, sweeps: Sweeps
) -> None:
    pending = await post("purchase", trigger(LOST_AFTER_RECORDING))
    assert pending.status_code == 202
    assert pending.json()["pending_reason"] == "unknown_outcome"
    sweeps.past_the_lock()

    summary = await sweeps.reconcile()

    assert (summary.claimed, dict(summary.resolved)) == (1, {"captured": 1})
    captured = await details(get, pending.json()["id"])
    assert captured["status"] == "captured"
    assert captured["amount_captured"] == 90100
    assert captured["pending_reason"] is None
    assert captured["processor_transaction_id"]
    assert captured["auth_code"]
    assert last_event(captured) == ("pending", "captured", "reconciliation")


async def test_an_authorization_whose_answer_was_lost_is_reconciled_to_authorized(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    charged_at = clock.now()
    pending = await post("authorize", trigger(LOST_AFTER_RECORDING))
    assert pending.status_code == 202
    sweeps.past_the_lock()

    await sweeps.reconcile()

    authorized = await details(get, pending.json()["id"])
    assert authorized["status"] == "authorized"
    assert authorized["amount_captured"] == 0
    assert last_event(authorized) == ("pending", "authorized", "reconciliation")
    # Its lifetime runs from when the processor took it, as the processor's own does.
    expected = (charged_at + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert authorized["expires_at"] == expected
    captured = await post("capture", {"transaction_id": authorized["id"]})
    assert captured.status_code == 201, captured.text


async def test_a_transaction_younger_than_the_key_lock_is_left_to_its_request(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    pending = await post("purchase", trigger(LOST_AFTER_RECORDING))
    clock.advance(timedelta(seconds=sweeps.settings.idempotency_lock_seconds - 1))
    assert (await sweeps.reconcile(now=True)).claimed == 0
    assert (await details(get, pending.json()["id"]))["status"] == "pending"


async def test_a_charge_the_processor_never_saw_waits_with_backoff_then_fails(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    body = trigger(LOST_UNRECORDED)
    pending = await post("purchase", body, key="never-arrived")
    assert pending.status_code == 202
    transaction_id = pending.json()["id"]
    sweeps.past_the_lock()

    first = await sweeps.reconcile()
    assert (first.claimed, first.still_pending, dict(first.resolved)) == (1, 1, {})
    row = await sweeps.row(transaction_id)
    assert (row.status, row.reconcile_attempts) == ("pending", 1)
    assert row.next_reconcile_at == clock.now() + timedelta(minutes=1)

    assert (await sweeps.reconcile()).claimed == 0, "its backoff has not ended: not asked again"
    forced = await sweeps.reconcile(now=True)
    assert forced.claimed == 1, "--now ignores the backoff"
    row = await sweeps.row(transaction_id)
    assert row.reconcile_attempts == 2
    assert row.next_reconcile_at == clock.now() + timedelta(minutes=2)

    clock.advance(timedelta(minutes=sweeps.settings.reconcile_not_found_after_minutes))
    last = await sweeps.reconcile()
    assert (last.claimed, last.failed_not_found, dict(last.resolved)) == (1, 1, {"failed": 1})
    failed = await details(get, transaction_id)
    assert failed["status"] == "failed"
    assert failed["decline_reason"] == NOT_FOUND_REASON
    assert last_event(failed) == ("pending", "failed", "reconciliation")

    replay = await post("purchase", body, key="never-arrived")
    assert replay.status_code == 502
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["code"] == "processor_error"
    assert replay.json()["transaction_id"] == transaction_id
    assert (await sweeps.reconcile(now=True)).claimed == 0, "final: never asked again"


async def test_a_replay_after_reconciliation_answers_with_the_reconciled_transaction(
    post: Post, sweeps: Sweeps
) -> None:
    body = trigger(LOST_AFTER_RECORDING)
    pending = await post("purchase", body, key="slow")
    sweeps.past_the_lock()
    await sweeps.reconcile()

    replay = await post("purchase", body, key="slow")

    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == pending.json()["id"]
    assert replay.json()["status"] == "captured"


async def test_the_key_of_a_request_that_died_gets_the_answer_a_replay_would_rebuild(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    body = trigger(LOST_AFTER_RECORDING)
    pending = await post("purchase", body, key="crashed")
    # The process died after phase 2: the key was never given its answer.
    async with sweeps.sessions() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == stored_key(sweeps.crypto.fingerprints, "crashed"))
            .values(
                state=State.IN_FLIGHT,
                recovery_point=RecoveryPoint.RESERVED,
                locked_until=clock.now() + timedelta(seconds=90),
                response_status=None,
                response_body_encrypted=None,
            )
        )
        await session.commit()
    sweeps.past_the_lock()

    summary = await sweeps.reconcile()

    assert summary.answers_stored == 1
    stored = await sweeps.key("crashed")
    assert (stored.state, stored.response_status) == (State.COMPLETED, 201)
    replay = await post("purchase", body, key="crashed")
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    current = await details(get, pending.json()["id"])
    del current["events"]
    assert replay.json() == current, "the stored answer is the transaction as it now stands"


async def test_a_charge_held_for_review_stays_pending_until_decided_then_is_captured(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator, clock: FrozenClock
) -> None:
    body = trigger(HELD_FOR_REVIEW)
    held = await post("purchase", body, key="held")
    assert held.status_code == 202
    transaction_id = held.json()["id"]
    sweeps.past_the_lock()

    undecided = await sweeps.reconcile()
    assert (undecided.claimed, undecided.still_pending) == (1, 1)
    row = await sweeps.row(transaction_id)
    assert (row.status, row.pending_reason) == ("pending", "processor_review")

    await simulator.review(transaction_id, "approve")
    clock.advance(backoff(1))
    decided = await sweeps.reconcile()

    assert dict(decided.resolved) == {"captured": 1}
    captured = await details(get, transaction_id)
    assert captured["status"] == "captured"
    assert last_event(captured) == ("pending", "captured", "reconciliation")
    assert (await sweeps.row(transaction_id)).orphan_since is None, "its client knew it was held"
    replay = await post("purchase", body, key="held")
    assert (replay.status_code, replay.json()["status"]) == (201, "captured")


async def test_a_charge_declined_in_review_is_reconciled_to_declined(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    body = trigger(HELD_FOR_REVIEW)
    held = await post("authorize", body, key="held")
    await simulator.review(held.json()["id"], "decline")
    sweeps.past_the_lock()

    await sweeps.reconcile()

    declined = await details(get, held.json()["id"])
    assert (declined["status"], declined["decline_code"]) == ("declined", "2")
    assert last_event(declined) == ("pending", "declined", "reconciliation")
    replay = await post("authorize", body, key="held")
    assert (replay.status_code, replay.json()["code"]) == (402, "card_declined")


async def test_only_an_approval_after_a_202_unknown_outcome_marks_an_orphan(
    post: Post, sweeps: Sweeps, clock: FrozenClock
) -> None:
    lost = (await post("purchase", trigger(LOST_AFTER_RECORDING))).json()["id"]
    never = (await post("purchase", trigger(LOST_UNRECORDED))).json()["id"]
    sweeps.past_the_lock()
    await sweeps.reconcile()
    assert (await sweeps.row(lost)).orphan_since == clock.now()
    assert (await sweeps.row(never)).orphan_since is None


async def test_an_unreachable_processor_leaves_everything_pending_with_backoff(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    pending = (await post("purchase", trigger(LOST_AFTER_RECORDING))).json()["id"]
    sweeps.past_the_lock()
    await simulator.outage.turn(on=True)
    try:
        summary = await sweeps.reconcile()
    finally:
        await simulator.outage.turn(on=False)
    assert (summary.claimed, summary.still_pending, dict(summary.resolved)) == (1, 1, {})
    assert (await sweeps.row(pending)).reconcile_attempts == 1
    assert (await details(get, pending))["status"] == "pending"


async def test_a_charge_the_processor_holds_in_a_state_no_answer_gives_is_referred(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    pending = (await post("purchase", trigger(LOST_AFTER_RECORDING))).json()["id"]
    taken = await simulator.find_by_reference(pending)
    assert taken is not None
    # Voided at the processor (its merchant interface, say) before we learnt it landed.
    await simulator.void(VoidRequest(new_id("txn"), taken.processor_transaction_id))
    sweeps.past_the_lock()

    await sweeps.reconcile()

    referred = await details(get, pending)
    assert referred["status"] == "requires_review"
    assert referred["processor_transaction_id"] == taken.processor_transaction_id
    assert referred["events"][-1]["reason"] == "the processor reports it voided"
    listed = (await get("", status="requires_review")).json()["data"]
    assert [row["id"] for row in listed] == [pending]


# -- captures, refunds and voids whose answer was lost --------------------------------


async def _settled_purchase(post: Post, sweeps: Sweeps, simulator: Simulator) -> str:
    purchase = (await post("purchase", charge_body(1500))).json()["id"]
    async with sweeps.sessions() as session:
        await SettlementService(session, simulator).settle(everything=True)
        await session.commit()
    return str(purchase)


@pytest.mark.parametrize(
    ("operation", "parent_after"),
    [
        ("capture", {"status": "captured", "amount_captured": 1000}),
        ("partial_refund", {"status": "partially_refunded", "amount_refunded": 500}),
        ("refund_as_void", {"status": "refunded", "amount_refunded": 1500}),
        ("cancel", {"status": "voided"}),
    ],
)
async def test_a_child_whose_answer_was_lost_succeeds_and_updates_its_parent(
    post: Post,
    get: Any,
    sweeps: Sweeps,
    simulator: Simulator,
    merchant: Merchant,
    operation: str,
    parent_after: dict[str, Any],
) -> None:
    context = sweeps.context(merchant.id)
    child_op: CaptureOperation | RefundOperation | CancelOperation
    if operation == "capture":
        parent = (await post("authorize", charge_body(1500))).json()["id"]
        child_op = CaptureOperation(
            CaptureIn(transaction_id=parent, amount=1000), context, sweeps.clock
        )
    elif operation == "partial_refund":
        parent = await _settled_purchase(post, sweeps, simulator)
        child_op = RefundOperation(
            RefundIn(transaction_id=parent, amount=500), context, sweeps.clock
        )
    elif operation == "refund_as_void":
        parent = (await post("purchase", charge_body(1500))).json()["id"]
        child_op = RefundOperation(RefundIn(transaction_id=parent), context, sweeps.clock)
    else:
        parent = (await post("authorize", charge_body(1500))).json()["id"]
        child_op = CancelOperation(CancelIn(transaction_id=parent), context, sweeps.clock)
    reserved = await sweeps.without_phase_3(child_op)
    assert (await details(get, reserved.object_id))["status"] == "pending"
    sweeps.past_the_lock()

    summary = await sweeps.reconcile()

    assert dict(summary.resolved) == {"succeeded": 1}
    child = await details(get, reserved.object_id)
    assert child["status"] == "succeeded"
    assert last_event(child) == ("pending", "succeeded", "reconciliation")
    updated = await details(get, parent)
    assert {name: updated[name] for name in parent_after} == parent_after
    assert updated["events"][-1]["actor"] == "reconciliation"
    if operation == "refund_as_void":
        assert updated["events"][-1]["reason"] == "void"


async def test_a_child_the_processor_never_saw_fails_and_frees_its_parent(
    post: Post, get: Any, sweeps: Sweeps, merchant: Merchant, clock: FrozenClock
) -> None:
    parent = (await post("authorize", charge_body(1500))).json()["id"]
    capture = CaptureOperation(CaptureIn(transaction_id=parent), sweeps.context(merchant.id), clock)
    async with sweeps.sessions() as session:  # phase 1, then the process died
        reserved = await capture.reserve(session)
        await session.commit()
    sweeps.past_the_lock()
    assert (await sweeps.reconcile()).still_pending == 1

    clock.advance(timedelta(minutes=sweeps.settings.reconcile_not_found_after_minutes))
    await sweeps.reconcile()

    child = await details(get, reserved.object_id)
    assert (child["status"], child["decline_reason"]) == ("failed", NOT_FOUND_REASON)
    assert (await details(get, parent))["status"] == "authorized"
    assert (await post("capture", {"transaction_id": parent})).status_code == 201


async def test_a_lost_capture_is_found_through_its_authorizations_record(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator, merchant: Merchant
) -> None:
    parent = (await post("authorize", charge_body(1500))).json()["id"]
    capture = CaptureOperation(
        CaptureIn(transaction_id=parent, amount=900), sweeps.context(merchant.id), sweeps.clock
    )
    reserved = await sweeps.without_phase_3(capture)
    # As on Authorize.Net: nothing answers to the capture's own reference.
    assert await simulator.find_by_reference(reserved.object_id) is None
    sweeps.past_the_lock()

    summary = await sweeps.reconcile()

    assert dict(summary.resolved) == {"succeeded": 1}
    child = await details(get, reserved.object_id)
    authorization = await details(get, parent)
    assert child["status"] == "succeeded"
    assert child["processor_transaction_id"] == authorization["processor_transaction_id"]
    assert (authorization["status"], authorization["amount_captured"]) == ("captured", 900)


async def test_a_lost_void_is_found_through_its_parents_record(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator, merchant: Merchant
) -> None:
    parent = (await post("purchase", charge_body(1500))).json()["id"]
    cancel = CancelOperation(
        CancelIn(transaction_id=parent), sweeps.context(merchant.id), sweeps.clock
    )
    reserved = await sweeps.without_phase_3(cancel)
    assert await simulator.find_by_reference(reserved.object_id) is None
    sweeps.past_the_lock()

    summary = await sweeps.reconcile()

    assert dict(summary.resolved) == {"succeeded": 1}
    assert (await details(get, reserved.object_id))["status"] == "succeeded"
    assert (await details(get, parent))["status"] == "voided"


async def test_a_void_whose_parent_the_processor_shows_unchanged_waits_then_fails(
    post: Post, get: Any, sweeps: Sweeps, merchant: Merchant, clock: FrozenClock
) -> None:
    parent = (await post("purchase", charge_body(1500))).json()["id"]
    cancel = CancelOperation(CancelIn(transaction_id=parent), sweeps.context(merchant.id), clock)
    async with sweeps.sessions() as session:  # phase 1, then the process died
        reserved = await cancel.reserve(session)
        await session.commit()
    sweeps.past_the_lock()
    # The purchase's record says capturedPendingSettlement: not a void that landed.
    assert (await sweeps.reconcile()).still_pending == 1

    clock.advance(timedelta(minutes=sweeps.settings.reconcile_not_found_after_minutes))
    await sweeps.reconcile()

    void = await details(get, reserved.object_id)
    assert (void["status"], void["decline_reason"]) == ("failed", NOT_FOUND_REASON)
    assert (await details(get, parent))["status"] == "captured"


# -- concurrent passes, on committed data ---------------------------------------------


@pytest.fixture
def committed(
    committed_engine: AsyncEngine,
    clock: FrozenClock,
    simulator: Simulator,
    settings: Settings,
    redis_client: Redis,
    field_crypto: FieldCrypto,
) -> Sweeps:
    return Sweeps(
        sessions=create_session_factory(committed_engine),
        clock=clock,
        processors=resilient_processors(simulator, settings, redis_client, clock),
        crypto=field_crypto,
        settings=settings.payments,
    )


async def _pending_purchases(
    sweeps: Sweeps, simulator: Simulator, *, landed: int, lost: int
) -> tuple[list[str], list[str]]:
    """Pending purchases, committed: `landed` of them taken by the simulator."""
    ids: list[str] = []
    async with sweeps.sessions() as session:
        merchant = await MerchantService(session, sweeps.clock).create_merchant("Sweep Shop")
        service = TransactionService(session, sweeps.clock)
        for _ in range(landed + lost):
            transaction = Transaction(
                id=new_id("txn"),
                merchant_id=merchant.id, livemode=False, type="purchase", status="pending",
                pending_reason="unknown_outcome", amount=1500, currency="USD",
                amount_captured=0, amount_refunded=0, metadata_={}, processor="simulator",
            )  # fmt: skip
            await service.open(transaction, Actor(kind="api"), action="payment.purchase")
            ids.append(transaction.id)
        await session.commit()
    for reference in ids[:landed]:
        await simulator.purchase(charge(1500, ref=reference))
    return ids[:landed], ids[landed:]


async def _reconciliation_events(sweeps: Sweeps, transaction_id: str) -> int:
    async with sweeps.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.object_id == transaction_id, Event.actor == "reconciliation")
        )
        return int(count or 0)


async def test_two_concurrent_passes_never_process_one_transaction_twice(
    committed: Sweeps, simulator: Simulator
) -> None:
    landed, lost = await _pending_purchases(committed, simulator, landed=6, lost=6)
    committed.past_the_lock()

    first, second = await asyncio.gather(
        committed.reconcile(batch_size=2), committed.reconcile(batch_size=2)
    )

    assert first.claimed + second.claimed == 12
    assert first.resolved + second.resolved == {"captured": 6}
    for transaction_id in landed:
        assert (await committed.row(transaction_id)).status == "captured"
        assert await _reconciliation_events(committed, transaction_id) == 1
    for transaction_id in lost:
        assert (await committed.row(transaction_id)).reconcile_attempts == 1


async def test_a_pass_skips_rows_another_pass_holds(
    committed: Sweeps, simulator: Simulator
) -> None:
    landed, _ = await _pending_purchases(committed, simulator, landed=4, lost=0)
    committed.past_the_lock()
    held = landed[:2]
    async with committed.sessions() as other_pass:
        await other_pass.execute(
            text("SELECT id FROM transactions WHERE id = ANY(:ids) FOR UPDATE"), {"ids": held}
        )
        skipping = await committed.reconcile(now=True)
        assert (skipping.claimed, dict(skipping.resolved)) == (2, {"captured": 2})
        for transaction_id in held:
            assert (await committed.row(transaction_id)).status == "pending"
        await other_pass.rollback()

    released = await committed.reconcile(now=True)
    assert (released.claimed, dict(released.resolved)) == (2, {"captured": 2})


async def test_reconciliation_records_why_a_charge_failed_as_its_failure_kind(
    post: Post, sweeps: Sweeps, clock: FrozenClock, simulator: Simulator
) -> None:
    """Nothing found at the processor and a decline in review end with the kind
    dunning and the answers read, not only with a text."""
    never = await post("purchase", trigger(LOST_UNRECORDED), key="never")
    held = await post("authorize", trigger(HELD_FOR_REVIEW), key="review")
    await simulator.review(held.json()["id"], "decline")
    sweeps.past_the_lock()
    await sweeps.reconcile()
    clock.advance(timedelta(minutes=sweeps.settings.reconcile_not_found_after_minutes))
    await sweeps.reconcile(now=True)

    not_found = await sweeps.row(never.json()["id"])
    assert (not_found.status, not_found.failure_kind) == (
        "failed",
        FailureKind.NOT_FOUND_AT_PROCESSOR,
    )
    declined = await sweeps.row(held.json()["id"])
    assert (declined.status, declined.failure_kind) == ("declined", FailureKind.DECLINED)
