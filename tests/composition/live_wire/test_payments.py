"""A live key's payments over the wire (issue 17): the connector, built as the
composition root builds it, talking HTTP to `gateway sandbox serve`."""

from __future__ import annotations

from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from tests.composition.live_wire import FIRST_SANDBOX_ID, Live, at_sandbox, sync_settlement
from tests.fixtures.payments import charge_body
from tests.fixtures.sandbox import RunningSandbox


async def test_a_live_purchase_is_captured_at_the_sandbox(
    live: Live, sandbox: RunningSandbox
) -> None:
    payment = await live.post("/payments/purchase", charge_body(2500), status=201)

    assert (payment["livemode"], payment["status"]) == (True, "captured")
    assert payment["processor"] == "authorize_net"
    assert int(payment["processor_transaction_id"]) >= FIRST_SANDBOX_ID
    assert payment["auth_code"]
    there = await at_sandbox(sandbox, payment["processor_transaction_id"])
    assert (there.reference, there.status, there.amount) == (
        payment["id"],
        "capturedPendingSettlement",
        2500,
    )


async def test_authorize_then_capture_part_of_it(live: Live, sandbox: RunningSandbox) -> None:
    authorized = await live.post("/payments/authorize", charge_body(2000), status=201)
    assert authorized["status"] == "authorized"

    capture = await live.post(
        "/payments/capture", {"transaction_id": authorized["id"], "amount": 1200}, status=201
    )

    assert (capture["type"], capture["status"], capture["amount"]) == ("capture", "succeeded", 1200)
    parent = await live.get(f"/payments/{authorized['id']}")
    assert (parent["status"], parent["amount_captured"]) == ("captured", 1200)
    there = await at_sandbox(sandbox, authorized["processor_transaction_id"])
    assert (there.status, there.amount, there.settled_amount) == (
        "capturedPendingSettlement",
        2000,
        1200,
    )


async def test_cancel_voids_at_the_sandbox(live: Live, sandbox: RunningSandbox) -> None:
    authorized = await live.post("/payments/authorize", charge_body(900), status=201)

    voided = await live.post("/payments/cancel", {"transaction_id": authorized["id"]}, status=200)

    assert voided["status"] == "voided"
    there = await at_sandbox(sandbox, authorized["processor_transaction_id"])
    assert there.status == "voided"


async def test_a_full_refund_before_settlement_is_sent_as_a_void(
    live: Live, sandbox: RunningSandbox
) -> None:
    purchase = await live.post("/payments/purchase", charge_body(1800), status=201)

    refund = await live.post("/payments/refund", {"transaction_id": purchase["id"]}, status=201)

    assert (refund["type"], refund["status"], refund["amount"]) == ("refund", "succeeded", 1800)
    parent = await live.get(f"/payments/{purchase['id']}")
    assert parent["status"] == "refunded"
    assert any("void" in (event["reason"] or "") for event in parent["events"])
    there = await at_sandbox(sandbox, purchase["processor_transaction_id"])
    assert there.status == "voided"


async def test_a_partial_refund_once_the_gateway_learns_of_settlement(
    live: Live, sandbox: RunningSandbox, resources: Resources, clock: FrozenClock
) -> None:
    purchase = await live.post("/payments/purchase", charge_body(3000), status=201)
    await sandbox.settle_now()

    # Settled at the sandbox, but the gateway learns it only from the batches.
    early = await live.post(
        "/payments/refund", {"transaction_id": purchase["id"], "amount": 1000}, status=409
    )
    assert "not settled" in early["detail"]
    assert await sync_settlement(resources, clock) >= 1
    assert (await live.get(f"/payments/{purchase['id']}"))["settled_at"] is not None

    refund = await live.post(
        "/payments/refund", {"transaction_id": purchase["id"], "amount": 1000}, status=201
    )

    assert (refund["status"], refund["amount"]) == ("succeeded", 1000)
    assert int(refund["processor_transaction_id"]) >= FIRST_SANDBOX_ID
    assert refund["processor_transaction_id"] != purchase["processor_transaction_id"]
    parent = await live.get(f"/payments/{purchase['id']}")
    assert (parent["status"], parent["amount_refunded"]) == ("partially_refunded", 1000)
    there = await at_sandbox(sandbox, refund["processor_transaction_id"])
    assert (there.kind, there.status, there.amount) == ("refund", "refundPendingSettlement", 1000)
    assert there.parent_processor_transaction_id == purchase["processor_transaction_id"]
