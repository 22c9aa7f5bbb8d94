"""Which attempts a sweep makes: a bounded number in flight per endpoint (one
stalled receiver never holds back another merchant's deliveries), none for a
disabled endpoint, and a late finisher whose lease was claimed again records
nothing; and the connection-time SSRF check (DNS rebinding)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from gateway.webhooks.outbound.claims import claim_due
from gateway.webhooks.outbound.destinations import check_destination
from gateway.webhooks.outbound.outcomes import record_attempt
from gateway.webhooks.outbound.sender import AttemptResult
from tests.webhooks.outbound.conftest import Deliveries
from tests.webhooks.outbound.receiver import Answer, Receiver


async def test_a_stalled_endpoint_takes_only_its_bound_and_others_are_delivered_beside_it(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    receiver.answer("/slow", Answer(stall_s=10))
    slow, _ = await deliveries.endpoint(receiver.url("/slow"))
    fast, _ = await deliveries.endpoint(receiver.url("/fast"))
    backlog = [await deliveries.delivery(slow) for _ in range(5)]
    others = [await deliveries.delivery(fast) for _ in range(3)]

    async with deliveries.worker(
        webhook_delivery_concurrency=3, webhook_delivery_timeout_s=0.5
    ) as worker:
        assert await worker.sweep() == 6  # 3 of the backlog, the 3 others

    assert len(receiver.at("/slow")) == 3
    assert [(await deliveries.get(d.id)).status for d in others] == ["succeeded"] * 3
    attempts = sorted([(await deliveries.get(d.id)).attempts for d in backlog])
    assert attempts == [0, 0, 1, 1, 1]


async def test_live_leases_count_against_the_endpoints_bound(deliveries: Deliveries) -> None:
    busy, _ = await deliveries.endpoint("http://127.0.0.1:9/busy")
    idle, _ = await deliveries.endpoint("http://127.0.0.1:9/idle")
    for _ in range(3):
        await deliveries.delivery(busy)
    now, lease = deliveries.clock.now(), timedelta(seconds=60)

    async def claim() -> Sequence[str]:
        async with deliveries.sessions() as session:
            claims = await claim_due(session, now=now, per_endpoint=2, lease=lease, limit=100)
            await session.commit()
        return [c.endpoint.id for c in claims]

    assert await claim() == [busy.id, busy.id]
    await deliveries.delivery(idle)
    assert await claim() == [idle.id]  # the busy endpoint's two leases are live
    deliveries.clock.advance(lease)
    now = deliveries.clock.now()
    # Leases that ran out (their worker died) free the bound and are claimed again.
    assert sorted(await claim()) == sorted([busy.id, busy.id, idle.id])


async def test_a_disabled_endpoints_deliveries_are_not_sent(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    endpoint, _ = await deliveries.endpoint(receiver.url("/off"), disabled=True)
    delivery = await deliveries.delivery(endpoint)

    async with deliveries.worker() as worker:
        assert await worker.run() == 0

    assert receiver.at("/off") == []
    waiting = await deliveries.get(delivery.id)
    assert (waiting.status, waiting.attempts) == ("pending", 0)


async def test_a_late_finisher_whose_lease_was_claimed_again_records_nothing(
    deliveries: Deliveries,
) -> None:
    endpoint, _ = await deliveries.endpoint("http://127.0.0.1:9/late")
    delivery = await deliveries.delivery(endpoint)
    lease = timedelta(seconds=30)

    async def claim_one() -> object:
        async with deliveries.sessions() as session:
            [claim] = await claim_due(
                session, now=deliveries.clock.now(), per_endpoint=8, lease=lease, limit=10
            )
            await session.commit()
        return claim

    first = await claim_one()
    deliveries.clock.advance(lease)
    second = await claim_one()

    async def record(claim: object, status: int) -> object:
        async with deliveries.sessions() as session:
            outcome = await record_attempt(
                session,
                claim,  # type: ignore[arg-type]
                AttemptResult(deliveries.clock.now(), 5, status_code=status),
                now=deliveries.clock.now(),
                schedule=(5,),
                jitter=lambda: 0.0,
            )
            await session.commit()
        return outcome

    assert await record(second, 200) == "succeeded"
    assert await record(first, 500) is None
    done = await deliveries.get(delivery.id)
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 2, 200)
    assert [a.attempt for a in await deliveries.attempts_of(delivery.id)] == [2]


async def test_in_production_a_name_rebound_to_loopback_is_refused_at_connection(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    answers = {"hooks.merchant.example": ["93.184.215.14"]}

    async def rebinding(host: str, port: int) -> Sequence[str]:
        return answers[host]

    url = f"https://hooks.merchant.example:{receiver.port}/hooks"
    await check_destination(url, production=True, resolve=rebinding)  # passes at creation
    endpoint, _ = await deliveries.endpoint(url)
    delivery = await deliveries.delivery(endpoint)
    answers["hooks.merchant.example"] = ["127.0.0.1"]  # then the name moves inside

    async with deliveries.worker(production=True, resolve=rebinding) as worker:
        assert await worker.run() == 1

    refused = await deliveries.get(delivery.id)
    assert refused.status == "failed"
    assert refused.last_status_code is None
    assert refused.last_error is not None
    assert "non-public address" in refused.last_error
    assert receiver.received == []


async def test_outside_production_the_connection_goes_to_the_checked_address_by_name(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    looked_up: list[str] = []

    async def local(host: str, port: int) -> Sequence[str]:
        looked_up.append(host)
        await asyncio.sleep(0)
        return ["127.0.0.1"]

    endpoint, _ = await deliveries.endpoint(receiver.url("/named", host="receiver.test"))
    delivery = await deliveries.delivery(endpoint)

    async with deliveries.worker(resolve=local) as worker:
        assert await worker.run() == 1

    assert looked_up == ["receiver.test"]
    [request] = receiver.at("/named")
    assert request.headers["host"] == f"receiver.test:{receiver.port}"
    assert (await deliveries.get(delivery.id)).status == "succeeded"
