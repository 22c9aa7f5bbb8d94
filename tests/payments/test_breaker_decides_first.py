"""Issue 16 points 2 and 3 over HTTP: everything that can be decided without the
processor is decided before the breaker is asked, and its half-open trial can
never stick."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.payments.models import Transaction
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import Post, charge_body

BAD_LUHN = "4111111111111112"


async def _processor_state(client: httpx.AsyncClient) -> str:
    state: str = (await client.get("/api/v1/health")).json()["checks"]["processor"]
    return state


async def _open_the_breaker(post: Post, client: httpx.AsyncClient, simulator: Simulator) -> None:
    await simulator.outage.turn(on=True)
    for attempt in range(5):  # GATEWAY_BREAKER_FAIL_MAX
        assert (await post("purchase", charge_body(1500), key=f"down-{attempt}")).status_code == 503
    assert await _processor_state(client) == "open"
    await simulator.outage.turn(on=False)


async def test_the_stuck_breaker_scenario_ends_with_the_valid_purchase_answered_201(
    post: Post,
    client: httpx.AsyncClient,
    simulator: Simulator,
    clock: FrozenClock,
    resources: Resources,
    settings: Settings,
) -> None:
    await _open_the_breaker(post, client, simulator)
    clock.advance(timedelta(seconds=settings.processor.breaker_reset_s))

    bad = await post("purchase", charge_body(1500, number=BAD_LUHN))
    assert bad.status_code == 400, "a bad card is a 400 whatever the breaker's state"
    assert await _processor_state(client) == "half_open", "and it took no trial"

    # The worst case left: a trial whose caller died before it could report.
    breaker = resources.processors.for_mode(livemode=False).breaker
    assert (await breaker.admit()).trial
    stuck = await post("purchase", charge_body(1500))
    assert stuck.status_code == 503
    assert int(stuck.headers["retry-after"]) >= 1

    config = settings.processor
    clock.advance(
        timedelta(
            seconds=config.processor_connect_timeout_s
            + config.processor_read_timeout_s
            + config.processor_retry_deadline_s
        )
    )
    valid = await post("purchase", charge_body(1500))
    assert valid.status_code == 201, valid.text
    assert await _processor_state(client) == "closed"


async def test_with_the_breaker_open_requests_that_cannot_succeed_get_their_own_error(
    post: Post,
    client: httpx.AsyncClient,
    simulator: Simulator,
    clock: FrozenClock,
    settings: Settings,
    db_session: AsyncSession,
) -> None:
    purchase = (await post("purchase", charge_body(1500))).json()
    await _open_the_breaker(post, client, simulator)
    recorded = await db_session.scalar(select(func.count()).select_from(Transaction))

    bad_card = await post("purchase", charge_body(1500, number=BAD_LUHN))
    unknown = await post("capture", {"transaction_id": "txn_0000000000000000"})
    over_limit = await post("purchase", charge_body(settings.payments.max_amount + 1))
    currency = await post("purchase", {**charge_body(1500), "currency": "XXX"})
    not_capturable = await post("capture", {"transaction_id": purchase["id"]})
    too_much = await post("refund", {"transaction_id": purchase["id"], "amount": 999_999})

    assert bad_card.status_code == 400
    assert unknown.status_code == 404
    assert over_limit.status_code == 400
    assert currency.status_code == 400
    assert not_capturable.status_code == 409
    assert too_much.status_code in {409, 422}
    for refused in (bad_card, unknown, over_limit, currency, not_capturable, too_much):
        assert refused.json()["code"] != "processor_unavailable"
        assert "retry-after" not in refused.headers
    assert await db_session.scalar(select(func.count()).select_from(Transaction)) == recorded

    clock.advance(timedelta(seconds=settings.processor.breaker_reset_s))
    assert (await post("purchase", charge_body(1500))).status_code == 201, (
        "none of them took the trial"
    )


async def test_a_replay_is_answered_whatever_the_breaker_state_and_never_takes_the_trial(
    post: Post,
    client: httpx.AsyncClient,
    simulator: Simulator,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    first = await post("purchase", charge_body(1500), key="kept")
    assert first.status_code == 201
    await _open_the_breaker(post, client, simulator)

    while_open = await post("purchase", charge_body(1500), key="kept")
    assert (while_open.status_code, while_open.json()) == (201, first.json())
    clock.advance(timedelta(seconds=settings.processor.breaker_reset_s))
    while_half_open = await post("purchase", charge_body(1500), key="kept")
    assert (while_half_open.status_code, while_half_open.json()) == (201, first.json())
    assert await _processor_state(client) == "half_open"

    fresh = await post("purchase", charge_body(1500))
    assert fresh.status_code == 201, "the trial was still free"
    assert await _processor_state(client) == "closed"
