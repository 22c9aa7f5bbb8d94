"""What /metrics tells of inbound webhooks and the queues (issue point 6): receipt
by type and result, the dead-letter backlog from PostgreSQL, and each queue's
depth and oldest job age from Redis, all at scrape time in the API process.
(Counters from workers reaching the API: test_end_to_end.py.)"""

from __future__ import annotations

from datetime import timedelta

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis as SyncRedis
from rq.utils import utcformat
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.clock import FrozenClock, SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import rq_queue
from gateway.webhooks.models import WebhookEvent
from tests.webhooks import notification
from tests.webhooks.conftest import Deliver


def stored_event(status: str, clock: FrozenClock) -> WebhookEvent:
    return WebhookEvent(
        id=new_id("we"),
        source="simulator",
        notification_id=new_id("we"),
        event_type="net.authorize.payment.void.created",
        status=status,
        attempts=1,
        received_at=clock.now(),
        updated_at=clock.now(),
        replays=0,
    )


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def test_receipts_are_counted_by_type_and_result(
    client: httpx.AsyncClient, deliver: Deliver
) -> None:
    async def counted() -> dict[tuple[tuple[str, str], ...], float]:
        response = await client.get("/api/v1/metrics")
        return samples(response.text, "gateway_webhooks_received_total")

    before = await counted()
    body = notification("1", event_type="net.authorize.payment.refund.created")
    await deliver(body)
    await deliver(body)
    await deliver(body, signature="sha512=" + "0" * 128)
    await deliver(notification("2", event_type="made.up.type"))
    after = await counted()

    def grew(event_type: str, result: str) -> float:
        key = (("event_type", event_type), ("result", result), ("source", "simulator"))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("net.authorize.payment.refund.created", "accepted") == 1
    assert grew("net.authorize.payment.refund.created", "duplicate") == 1
    assert grew("unknown", "invalid_signature") == 1
    assert grew("other", "accepted") == 1, "unknown types do not grow the label set"


async def test_dead_letters_and_queues_are_read_when_scraped(
    client: httpx.AsyncClient,
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    test_redis_url: str,
) -> None:
    async with session_factory() as session:
        for status in ("dead", "dead", "processed"):
            session.add(stored_event(status, clock))
        await session.commit()
    connection = SyncRedis.from_url(test_redis_url)
    try:
        webhooks = rq_queue("webhooks", connection)
        waiting = webhooks.enqueue("jobs.webhooks.process_webhook_event", "we_x")
        waiting.enqueued_at = SystemClock().now() - timedelta(minutes=10)
        connection.hset(waiting.key, "enqueued_at", utcformat(waiting.enqueued_at))
        rq_queue("billing", connection).enqueue("builtins.len", "abc")
    finally:
        connection.close()

    text = (await client.get("/api/v1/metrics")).text

    backlog = samples(text, "gateway_webhook_events")
    assert backlog[(("status", "dead"),)] == 2
    assert backlog[(("status", "processed"),)] == 1
    assert backlog[(("status", "failed"),)] == 0
    depth = samples(text, "gateway_queue_jobs")
    assert depth[(("queue", "webhooks"), ("state", "waiting"))] == 1
    assert depth[(("queue", "billing"), ("state", "waiting"))] == 1
    assert depth[(("queue", "deliveries"), ("state", "waiting"))] == 0
    assert depth[(("queue", "webhooks"), ("state", "failed"))] == 0
    age = samples(text, "gateway_queue_oldest_job_age_seconds")
    assert 590 <= age[(("queue", "webhooks"),)] <= 700
    assert age[(("queue", "simulator"),)] == 0
