"""The order workers take their queues in (issue 20): the outbox relay, which feeds
inbound processing, never waits behind a backlog of outbound deliveries."""

from __future__ import annotations

from redis import Redis
from rq import Queue

from gateway.core.queues import QUEUE_NAMES, RELAY_JOB, WORKER_QUEUES, rq_queue, send_nudge


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
