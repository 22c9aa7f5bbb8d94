"""A request killed at each of the money runner's fault points (the hook the
chaos suite uses) leaves a state that reconciliation and a replay of the same
Idempotency-Key finish: never a second charge, never a lost one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from gateway.composition.resources import Resources
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import Post, charge_body
from tests.payments.conftest import Sweeps


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the request handles it."""


def _die() -> None:
    raise Killed


async def charges_at_processor(simulator: Simulator, transaction_id: str) -> int:
    found = await simulator.find_by_reference(transaction_id)
    return 0 if found is None else 1


@pytest.mark.parametrize(
    ("point", "charged", "final", "answer"),
    [
        # Never sent: reconciliation fails it once the processor has not seen it
        # for the whole window; the replay says so (API.md: 502, transaction failed).
        (FaultPoint.AFTER_RESERVE, False, "failed", 502),
        (FaultPoint.AFTER_PROCESSOR_CALL, True, "captured", 201),
        (FaultPoint.BEFORE_FINAL_COMMIT, True, "captured", 201),
    ],
)
async def test_invariant_4_a_request_killed_at_a_fault_point_is_finished_by_reconciliation(
    resources: Resources,
    post: Post,
    get: Any,
    sweeps: Sweeps,
    simulator: Simulator,
    point: FaultPoint,
    charged: bool,
    final: str,
    answer: int,
) -> None:
    resources.faults = FaultPoints({point: 1.0}, kill=_die)
    body = charge_body(1500)
    with pytest.raises(Killed):
        await post("purchase", body, key="killed")
    resources.faults = FaultPoints.none()

    listed = (await get("", limit="1")).json()["data"]
    assert len(listed) == 1, "phase 1 was committed before the kill"
    transaction_id = listed[0]["id"]
    assert listed[0]["status"] == "pending"
    assert await charges_at_processor(simulator, transaction_id) == int(charged)

    # The client retries while the key is still locked: told to wait, nothing sent.
    retried = await post("purchase", body, key="killed")
    assert retried.status_code == 409
    assert retried.json()["code"] == "idempotency_key_in_use"

    sweeps.past_the_lock()
    sweeps.clock.advance(timedelta(minutes=sweeps.settings.reconcile_not_found_after_minutes))
    await sweeps.reconcile(now=True)

    replay = await post("purchase", body, key="killed")
    assert replay.status_code == answer, replay.text
    assert replay.json().get("transaction_id", replay.json().get("id")) == transaction_id
    current = await get(f"/{transaction_id}")
    assert current.json()["status"] == final
    # However it ended, the processor was asked at most once.
    assert await charges_at_processor(simulator, transaction_id) == int(charged)
