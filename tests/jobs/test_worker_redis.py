"""How gateway workers use Redis (issue 20): the outbox relay, which feeds
inbound processing, never waits behind a backlog of outbound deliveries; the
heartbeat, sent in one round trip, does what RQ's does."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from gateway.composition.worker import GatewayWorker
from gateway.core.queues import (
    QUEUE_NAMES,
    RELAY_JOB,
    SERIALIZER,
    WORKER_QUEUES,
    rq_queue,
    send_nudge,
)


def test_workers_serve_every_queue() -> None:
    assert sorted(WORKER_QUEUES) == sorted(QUEUE_NAMES)


def test_a_relay_nudge_is_taken_before_a_delivery_backlog(job_environment: Redis) -> None:
    deliveries = rq_queue("deliveries", job_environment)
    for _ in range(3):
        deliveries.enqueue("jobs.deliveries.deliver_due", "backlog")
    assert send_nudge(job_environment)
    queues = [rq_queue(name, job_environment) for name in WORKER_QUEUES]

    taken = Queue.dequeue_any(
        queues, None, connection=job_environment, serializer=queues[0].serializer
    )

    assert taken is not None
    job, queue = taken
    assert (queue.name, job.func_name) == ("maintenance", RELAY_JOB)


def test_a_gateway_worker_heartbeat_still_keeps_its_keys_alive(job_environment: Redis) -> None:
    worker = GatewayWorker(
        [rq_queue("maintenance", job_environment)],
        connection=job_environment,
        serializer=SERIALIZER,
    )
    job_environment.hset(worker.key, "birth", "now")
    job_environment.hset(worker.executions_key, "x", "1")

    worker.heartbeat(90)  # one pipeline instead of RQ's three round trips

    assert job_environment.hget(worker.key, "last_heartbeat") is not None
    assert 0 < job_environment.ttl(worker.key) <= 90
    assert 0 < job_environment.ttl(worker.executions_key) <= 90
