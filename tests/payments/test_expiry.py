"""Authorization expiry: voided at the processor where it still holds them, then
`expired`, whatever the processor answers; on the test's clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.merchants.models import Merchant
from gateway.payments.models import Transaction
from gateway.payments.operations import CaptureOperation
from gateway.payments.schemas import CancelIn, CaptureIn
from gateway.payments.sweeps.expiry import ExpiryVoid
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import Post, charge_body
from tests.payments.conftest import Sweeps

LIFETIME = timedelta(days=30)


async def details(get: Any, transaction_id: str) -> dict[str, Any]:
    response = await get(f"/{transaction_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def voids_of(get: Any, parent_id: str) -> list[dict[str, Any]]:
    listed = (await get("", type="void")).json()["data"]
    return [void for void in listed if void["parent_id"] == parent_id]


async def authorized(post: Post) -> str:
    response = await post("authorize", charge_body(1500))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def shorten_lifetime(sweeps: Sweeps, transaction_id: str, to: timedelta) -> None:
    """Our authorization ends before the processor's own (which keeps 30 days)."""
    async with sweeps.sessions() as session:
        await session.execute(
            update(Transaction)
            .where(Transaction.id == transaction_id)
            .values(expires_at=sweeps.clock.now() + to)
        )
        await session.commit()


async def test_an_expired_authorization_is_voided_at_the_processor_and_expired(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator, clock: FrozenClock
) -> None:
    authorization = await authorized(post)
    await shorten_lifetime(sweeps, authorization, timedelta(days=7))
    clock.advance(timedelta(days=7))

    summary = await sweeps.expire()

    assert (summary.claimed, summary.expired, summary.voided) == (1, 1, 1)
    parent = await details(get, authorization)
    assert parent["status"] == "expired"
    last = parent["events"][-1]
    assert (last["from_status"], last["to_status"], last["actor"]) == (
        "authorized",
        "expired",
        "system",
    )
    [void] = await voids_of(get, authorization)
    assert (void["status"], void["reason"]) == ("succeeded", "authorization expired")
    # A void keeps its authorization's transId: the authorization's record shows it.
    at_processor = await simulator.find_by_reference(authorization)
    assert at_processor is not None
    assert at_processor.status == "voided", "the customer's hold is released now"
    refused = await post("capture", {"transaction_id": authorization})
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_state")


async def test_an_authorization_the_processor_already_let_lapse_expires_all_the_same(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    authorization = await authorized(post)
    clock.advance(LIFETIME)

    summary = await sweeps.expire()

    assert (summary.expired, summary.voided) == (1, 0)
    assert (await details(get, authorization))["status"] == "expired"
    [void] = await voids_of(get, authorization)
    assert (void["status"], void["decline_code"]) == ("failed", "16")


async def test_nothing_expires_before_expires_at(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    authorization = await authorized(post)
    clock.advance(LIFETIME - timedelta(seconds=1))
    assert (await sweeps.expire()).claimed == 0
    assert (await details(get, authorization))["status"] == "authorized"
    assert await voids_of(get, authorization) == []


async def test_a_capture_in_flight_decides_instead_of_the_expiry(
    post: Post, get: Any, sweeps: Sweeps, merchant: Merchant, clock: FrozenClock
) -> None:
    authorization = await authorized(post)
    capture = CaptureOperation(
        CaptureIn(transaction_id=authorization), sweeps.context(merchant.id), clock
    )
    async with sweeps.sessions() as session:
        await capture.reserve(session)
        await session.commit()
    clock.advance(LIFETIME)

    assert (await sweeps.expire()).claimed == 0
    assert (await details(get, authorization))["status"] == "authorized"


async def test_a_void_that_never_reached_the_processor_is_tried_again_next_sweep(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator, clock: FrozenClock
) -> None:
    authorization = await authorized(post)
    await shorten_lifetime(sweeps, authorization, timedelta(days=1))
    clock.advance(timedelta(days=1))
    await simulator.outage.turn(on=True)
    try:
        unreachable = await sweeps.expire()
    finally:
        await simulator.outage.turn(on=False)
    assert (unreachable.expired, unreachable.left_authorized) == (0, 1)
    assert (await details(get, authorization))["status"] == "authorized"

    retried = await sweeps.expire()

    assert (retried.expired, retried.voided) == (1, 1)
    assert (await details(get, authorization))["status"] == "expired"
    voids = await voids_of(get, authorization)
    assert sorted((v["status"], v["decline_reason"]) for v in voids) == [
        ("failed", "processor unavailable"),
        ("succeeded", None),
    ]


async def test_a_lost_answer_to_the_expiry_void_is_finished_by_reconciliation(
    post: Post, get: Any, sweeps: Sweeps, merchant: Merchant, clock: FrozenClock
) -> None:
    authorization = await authorized(post)
    await shorten_lifetime(sweeps, authorization, timedelta(days=1))
    clock.advance(timedelta(days=1))
    context = replace(sweeps.context(merchant.id), actor=Actor(kind="system"))
    void = ExpiryVoid(CancelIn(transaction_id=authorization), context, clock)
    reserved = await sweeps.without_phase_3(void)
    sweeps.past_the_lock()

    await sweeps.reconcile()

    assert (await details(get, reserved.object_id))["status"] == "succeeded"
    parent = await details(get, authorization)
    assert parent["status"] == "expired", "finished as the expiry would have, not as a cancel"
    assert parent["events"][-1]["actor"] == "reconciliation"
