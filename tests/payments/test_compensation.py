"""Compensation of orphaned charges: approved by reconciliation after their client
got 202, and never asked about again with their Idempotency-Key."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.core.clock import FrozenClock
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.payments.settlement import SettlementService
from gateway.payments.sweeps.compensation import RECORDED, CompensationService
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body
from tests.payments.conftest import Sweeps

LOST_ANSWER = charge_body(90100, number=TRIGGER_CARD)  # trigger 901


async def details(get: Any, transaction_id: str) -> dict[str, Any]:
    response = await get(f"/{transaction_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def orphan(post: Post, sweeps: Sweeps, *, path: str = "purchase", key: str = "k") -> str:
    """A charge the processor took while its client got 202, approved by reconciliation."""
    response = await post(path, LOST_ANSWER, key=key)
    assert response.status_code == 202
    sweeps.past_the_lock()
    summary = await sweeps.reconcile()
    assert summary.resolved, summary
    return str(response.json()["id"])


def after_the_window(sweeps: Sweeps) -> None:
    sweeps.clock.advance(timedelta(minutes=sweeps.settings.orphan_after_minutes))


def last_event(transaction: dict[str, Any]) -> tuple[str | None, str, str, str | None]:
    event = transaction["events"][-1]
    return event["from_status"], event["to_status"], event["actor"], event["reason"]


async def test_record_policy_appends_an_event_and_moves_nothing(
    post: Post, get: Any, sweeps: Sweeps, clock: FrozenClock
) -> None:
    charge = await orphan(post, sweeps)
    clock.advance(timedelta(minutes=sweeps.settings.orphan_after_minutes - 1))
    assert (await sweeps.compensate()).claimed == 0, "its client may still come back"
    clock.advance(timedelta(minutes=1))

    summary = await sweeps.compensate()

    assert (summary.claimed, summary.recorded) == (1, 1)
    recorded = await details(get, charge)
    assert recorded["status"] == "captured"
    assert last_event(recorded) == ("captured", "captured", "reconciliation", RECORDED)
    assert (await sweeps.row(charge)).orphan_since is None
    assert (await sweeps.compensate()).claimed == 0, "judged once"


async def test_a_client_that_replayed_its_key_knows_and_is_left_alone(
    post: Post, get: Any, sweeps: Sweeps
) -> None:
    charge = await orphan(post, sweeps, key="came-back")
    replay = await post("purchase", LOST_ANSWER, key="came-back")
    assert replay.status_code == 201
    events = len((await details(get, charge))["events"])
    after_the_window(sweeps)

    summary = await sweeps.compensate()

    assert (summary.cleared, summary.recorded) == (1, 0)
    assert len((await details(get, charge))["events"]) == events
    assert (await sweeps.row(charge)).orphan_since is None


async def test_a_replay_while_still_pending_does_not_tell_the_client_the_outcome(
    post: Post, sweeps: Sweeps
) -> None:
    assert (await post("purchase", LOST_ANSWER, key="early")).status_code == 202
    again = await post("purchase", LOST_ANSWER, key="early")
    assert again.status_code == 202, "replayed before reconciliation: still 202"
    sweeps.past_the_lock()
    await sweeps.reconcile()
    after_the_window(sweeps)
    assert (await sweeps.compensate()).recorded == 1


async def test_a_charge_its_merchant_acted_on_is_no_orphan(
    post: Post, get: Any, sweeps: Sweeps
) -> None:
    authorization = await orphan(post, sweeps, path="authorize")
    assert (await post("capture", {"transaction_id": authorization})).status_code == 201
    after_the_window(sweeps)
    assert (await sweeps.compensate()).cleared == 1
    assert (await details(get, authorization))["status"] == "captured"


async def test_void_policy_voids_the_orphan_at_the_processor(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    voiding = sweeps.configured(orphan_policy="void")
    charge = await orphan(post, voiding)
    after_the_window(voiding)

    summary = await voiding.compensate()

    assert summary.voided == 1
    voided = await details(get, charge)
    assert voided["status"] == "voided"
    assert last_event(voided) == ("captured", "voided", "reconciliation", "orphan voided")
    [void] = [v for v in (await get("", type="void")).json()["data"] if v["parent_id"] == charge]
    assert (void["status"], void["reason"]) == ("succeeded", "orphan compensation")
    # A void keeps its charge's transId: the charge's record shows it.
    at_processor = await simulator.find_by_reference(charge)
    assert at_processor is not None
    assert at_processor.status == "voided"
    assert (await voiding.row(charge)).orphan_since is None


async def test_void_policy_only_records_a_settled_orphan(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    voiding = sweeps.configured(orphan_policy="void")
    charge = await orphan(post, voiding)
    async with voiding.sessions() as session:
        await SettlementService(session, simulator).settle(everything=True)
        await session.commit()
    after_the_window(voiding)

    summary = await voiding.compensate()

    assert (summary.recorded, summary.voided) == (1, 0)
    recorded = await details(get, charge)
    assert recorded["status"] == "captured"
    assert last_event(recorded)[3] == f"{RECORDED}: settled, not voided"


async def test_a_failed_compensation_leaves_the_charge_requires_review(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    voiding = sweeps.configured(orphan_policy="void")
    charge = await orphan(post, voiding)
    # The processor settled it, and our rows have not learnt it yet: its void fails.
    await simulator.settle(everything=True)
    after_the_window(voiding)

    summary = await voiding.compensate()

    assert summary.requires_review == 1
    review = await details(get, charge)
    assert review["status"] == "requires_review"
    from_status, to_status, actor, reason = last_event(review)
    assert (from_status, to_status, actor) == ("captured", "requires_review", "reconciliation")
    assert reason is not None
    assert reason.startswith("orphan void failed: ")
    listed = (await get("", status="requires_review")).json()["data"]
    assert [row["id"] for row in listed] == [charge]
    assert (await voiding.compensate()).claimed == 0, "never retried blindly"


async def test_a_void_that_never_reached_the_processor_is_tried_again(
    post: Post, get: Any, sweeps: Sweeps, simulator: Simulator
) -> None:
    voiding = sweeps.configured(orphan_policy="void")
    charge = await orphan(post, voiding)
    after_the_window(voiding)
    await simulator.outage.turn(on=True)
    try:
        unreachable = await voiding.compensate()
    finally:
        await simulator.outage.turn(on=False)
    assert (unreachable.retry_later, unreachable.requires_review) == (1, 0)
    assert (await details(get, charge))["status"] == "captured"

    assert (await voiding.compensate()).voided == 1
    assert (await details(get, charge))["status"] == "voided"


class _WorkerDied(Exception):
    """SIGKILL of the sweep's job, without ending the test process."""


def _die() -> None:
    raise _WorkerDied


async def test_a_void_whose_worker_died_before_the_processor_is_voided_again_not_referred(
    post: Post, get: Any, sweeps: Sweeps
) -> None:
    voiding = sweeps.configured(orphan_policy="void")
    charge = await orphan(post, voiding)
    after_the_window(voiding)
    dying = CompensationService(
        voiding.sessions,
        clock=voiding.clock,
        processors=voiding.processors,
        crypto=voiding.crypto,
        settings=voiding.settings,
        faults=FaultPoints({FaultPoint.AFTER_RESERVE: 1.0}, kill=_die),
    )
    with pytest.raises(_WorkerDied):
        await dying.compensate()
    # The void is nowhere at the processor: once that is final, it failed, never sent.
    voiding.clock.advance(timedelta(minutes=voiding.settings.reconcile_not_found_after_minutes))
    assert (await voiding.reconcile(now=True)).failed_not_found == 1

    assert (await details(get, charge))["status"] == "captured", "no person needed"
    assert (await voiding.compensate()).voided == 1
    assert (await details(get, charge))["status"] == "voided"
