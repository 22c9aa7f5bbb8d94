"""Attempts of a delivery against a real receiver on 127.0.0.1 that verifies
every request with `standardwebhooks`: success, the retry schedule, Retry-After,
410, the 5-day give-up, redirects, the 4 KiB masked excerpt, a stalling
receiver, and a secret rotation's two signatures."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from email.utils import format_datetime

from structlog.testing import capture_logs

from gateway.audit.service import Actor
from gateway.core.tenancy import Owner
from gateway.webhooks.outbound.destinations import system_resolver
from gateway.webhooks.outbound.endpoints import Destinations, EndpointService
from gateway.webhooks.outbound.outcomes import FAILING_REASON, GONE_REASON
from gateway.webhooks.outbound.sender import EXCERPT_BYTES, USER_AGENT
from gateway.webhooks.outbound.signing import SigningSecrets, new_secret
from tests.webhooks.outbound.conftest import Deliveries
from tests.webhooks.outbound.receiver import Answer, Receiver

CARD = "4111 1111 1111 1111"


async def test_a_2xx_succeeds_once_signed_as_standard_webhooks_verifies(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    endpoint, secrets = await deliveries.endpoint(receiver.url("/hooks"))
    receiver.verify_with("/hooks", [secrets.current])
    receiver.answer("/hooks", Answer(status=204, body=b""))
    delivery = await deliveries.delivery(endpoint)

    async with deliveries.worker() as worker:
        assert await worker.run() == 1

    [request] = receiver.at("/hooks")
    assert request.verified == (True,)
    assert request.headers["webhook-id"] == delivery.event_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert json.loads(request.body)["id"] == delivery.event_id
    done = await deliveries.get(delivery.id)
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 1, 204)
    assert done.delivered_at == deliveries.clock.now()
    assert done.next_attempt_at is None
    assert done.leased_until is None
    [attempt] = await deliveries.attempts_of(delivery.id)
    assert (attempt.attempt, attempt.status_code, attempt.error) == (1, 204, None)
    assert (await deliveries.get_endpoint(endpoint.id)).last_success_at == deliveries.clock.now()


async def test_failures_follow_the_schedule_then_the_delivery_is_dead(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    endpoint, secrets = await deliveries.endpoint(receiver.url("/down"))
    receiver.verify_with("/down", [secrets.current])
    receiver.answer("/down", Answer(status=500, body=b"boom"))
    delivery = await deliveries.delivery(endpoint)

    async with deliveries.worker(webhook_delivery_schedule_s=(0, 0, 0)) as worker:
        assert await worker.sweep() == 1
        failed = await deliveries.get(delivery.id)
        assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", 1, 500)
        assert failed.next_attempt_at == deliveries.clock.now()
        assert await worker.run() == 3  # the three retries, at once on this schedule

    dead = await deliveries.get(delivery.id)
    assert (dead.status, dead.attempts, dead.next_attempt_at) == ("dead", 4, None)
    assert [a.attempt for a in await deliveries.attempts_of(delivery.id)] == [1, 2, 3, 4]
    requests = receiver.at("/down")
    assert len(requests) == 4
    assert {r.headers["webhook-id"] for r in requests} == {delivery.event_id}
    assert all(r.verified == (True,) for r in requests)
    endpoint_now = await deliveries.get_endpoint(endpoint.id)
    assert endpoint_now.failing_since == deliveries.clock.now()
    assert not endpoint_now.disabled  # failing for seconds, not 5 days


async def test_a_dead_delivery_recovered_by_its_merchant_is_sent_again_and_succeeds(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    endpoint, secrets = await deliveries.endpoint(receiver.url("/flaky"))
    receiver.verify_with("/flaky", [secrets.current])
    receiver.answer("/flaky", Answer(status=503))
    delivery = await deliveries.delivery(endpoint)
    async with deliveries.worker(webhook_delivery_schedule_s=(0,)) as worker:
        assert await worker.run() == 2
        assert (await deliveries.get(delivery.id)).status == "dead"

        receiver.answer("/flaky", Answer(status=200))  # the merchant fixed its receiver
        now = deliveries.clock.now()
        async with deliveries.sessions() as session:
            service = EndpointService(
                session, deliveries.clock, deliveries.crypto, Destinations(False, system_resolver)
            )
            recovered = await service.recover(
                Owner(endpoint.merchant_id, False),
                endpoint.id,
                Actor(kind="api"),
                since=now - timedelta(hours=1),
                until=now + timedelta(seconds=1),
            )
            await session.commit()
        assert recovered == [delivery.id]
        assert await worker.run() == 1

    done = await deliveries.get(delivery.id)
    assert (done.status, done.attempts) == ("succeeded", 3)
    requests = receiver.at("/flaky")
    assert [r.headers["webhook-id"] for r in requests] == [delivery.event_id] * 3
    assert all(r.verified == (True,) for r in requests)


async def test_retry_after_is_honoured_up_to_the_next_attempts_bound(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    schedule = (5, 300, 1800)
    now = deliveries.clock.now()
    answers = {
        "/seconds": "120",  # beyond the 5 s delay, within the next bound
        "/far": "100000",  # beyond the next bound: cut to it
        "/date": format_datetime(now + timedelta(seconds=200), usegmt=True),
    }
    made = {}
    for path, value in answers.items():
        receiver.answer(path, Answer(status=503, headers={"Retry-After": value}))
        endpoint, _ = await deliveries.endpoint(receiver.url(path))
        made[path] = await deliveries.delivery(endpoint)

    async with deliveries.worker(webhook_delivery_schedule_s=schedule) as worker:
        assert await worker.run() == 3

    def delay(path: str) -> float:
        return (waits[path] - now).total_seconds()

    waits = {}
    for path, delivery in made.items():
        found = await deliveries.get(delivery.id)
        assert found.status == "failed"
        assert found.next_attempt_at is not None
        waits[path] = found.next_attempt_at
    assert delay("/seconds") == 120
    assert delay("/far") == 300
    assert 199 <= delay("/date") <= 200  # an HTTP date has whole seconds


async def test_410_gone_disables_the_endpoint_at_once(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    receiver.answer("/gone", Answer(status=410))
    endpoint, _ = await deliveries.endpoint(receiver.url("/gone"))
    first = await deliveries.delivery(endpoint)
    second = await deliveries.delivery(endpoint)

    async with deliveries.worker(webhook_delivery_concurrency=1) as worker:
        assert await worker.run() == 1  # the second is never sent

    gone = await deliveries.get_endpoint(endpoint.id)
    assert (gone.disabled, gone.disabled_reason) == (True, GONE_REASON)
    assert (await deliveries.get(first.id)).last_status_code == 410
    assert (await deliveries.get(second.id)).attempts == 0
    assert len(receiver.at("/gone")) == 1


async def test_an_endpoint_failing_for_5_days_with_no_success_is_disabled(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    receiver.answer("/failing", Answer(status=502))
    endpoint, _ = await deliveries.endpoint(receiver.url("/failing"))
    delivery = await deliveries.delivery(endpoint)
    day = 86400

    async with deliveries.worker(webhook_delivery_schedule_s=(day,) * 9) as worker:
        for _ in range(4):
            assert await worker.run() == 1
            assert not (await deliveries.get_endpoint(endpoint.id)).disabled
            deliveries.clock.advance(timedelta(days=1))
        assert await worker.run() == 1  # its 5th attempt, 4 days later: not yet
        assert not (await deliveries.get_endpoint(endpoint.id)).disabled
        deliveries.clock.advance(timedelta(days=1))
        assert await worker.run() == 1

    given_up = await deliveries.get_endpoint(endpoint.id)
    assert (given_up.disabled, given_up.disabled_reason) == (True, FAILING_REASON)
    assert "5 days" in FAILING_REASON
    assert (await deliveries.get(delivery.id)).attempts == 6


async def test_a_redirect_is_a_failure_and_is_not_followed(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    elsewhere = receiver.url("/elsewhere")
    receiver.answer("/moved", Answer(status=302, headers={"Location": elsewhere}))
    endpoint, _ = await deliveries.endpoint(receiver.url("/moved"))
    delivery = await deliveries.delivery(endpoint)

    async with deliveries.worker() as worker:
        await worker.run()

    failed = await deliveries.get(delivery.id)
    assert (failed.status, failed.last_status_code) == ("failed", 302)
    assert failed.last_error is not None
    assert "not followed" in failed.last_error
    assert receiver.at("/elsewhere") == []


async def test_the_answer_is_kept_to_4_kib_with_card_numbers_masked_in_db_and_logs(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    answer = f"error: card {CARD} refused; ".encode() + b"x" * 10_000
    receiver.answer("/chatty", Answer(status=400, body=answer))
    endpoint, _ = await deliveries.endpoint(receiver.url("/chatty"))
    delivery = await deliveries.delivery(endpoint)

    with capture_logs() as logs:
        async with deliveries.worker() as worker:
            await worker.run()

    [attempt] = await deliveries.attempts_of(delivery.id)
    assert attempt.response_excerpt is not None
    assert len(attempt.response_excerpt.encode()) <= EXCERPT_BYTES
    assert "[CARD ...1111]" in attempt.response_excerpt
    logged = repr(logs)
    for text in (attempt.response_excerpt, logged):
        assert CARD not in text
        assert CARD.replace(" ", "") not in text
    assert "[CARD ...1111]" in logged


async def test_a_cut_excerpt_never_ends_in_the_start_of_a_card_number(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    number = CARD.replace(" ", "")
    answer = b"y" * (EXCERPT_BYTES - 8) + number.encode()  # cut after 8 of its digits
    receiver.answer("/cut", Answer(status=500, body=answer))
    endpoint, _ = await deliveries.endpoint(receiver.url("/cut"))
    delivery = await deliveries.delivery(endpoint)

    async with deliveries.worker() as worker:
        await worker.run()

    [attempt] = await deliveries.attempts_of(delivery.id)
    assert attempt.response_excerpt == "y" * (EXCERPT_BYTES - 8)


async def test_a_stalling_receiver_times_out_as_an_error_instead_of_hanging(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    receiver.answer("/stall", Answer(stall_s=10))
    endpoint, _ = await deliveries.endpoint(receiver.url("/stall"))
    delivery = await deliveries.delivery(endpoint)

    began = time.monotonic()
    async with deliveries.worker(webhook_delivery_timeout_s=0.5) as worker:
        assert await worker.run() == 1
    assert time.monotonic() - began < 3

    failed = await deliveries.get(delivery.id)
    assert (failed.status, failed.last_status_code) == ("failed", None)
    assert failed.last_error is not None
    assert "Timeout" in failed.last_error
    [attempt] = await deliveries.attempts_of(delivery.id)
    assert 400 <= attempt.duration_ms < 3000


async def test_during_a_rotation_the_old_and_the_new_secret_each_verify(
    deliveries: Deliveries, receiver: Receiver
) -> None:
    old, new = new_secret(), new_secret()
    rotated = SigningSecrets(current=old).rotated(new, now=deliveries.clock.now())
    endpoint, _ = await deliveries.endpoint(receiver.url("/rotating"), secrets=rotated)
    receiver.verify_with("/rotating", [old, new, new_secret()])
    await deliveries.delivery(endpoint)

    async with deliveries.worker() as worker:
        await worker.run()

    [request] = receiver.at("/rotating")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.verified == (True, True, False)
