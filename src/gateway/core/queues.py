"""The RQ queues (DESIGN.md "Events, outbox and background work") and handing
work to them. Jobs carry ids only; their functions live in the `jobs` package and
are named here by path, so the service never imports its workers."""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.job import JobStatus

QUEUE_NAMES: tuple[str, ...] = ("webhooks", "billing", "deliveries", "simulator", "maintenance")

RELAY_JOB = "jobs.outbox.relay_outbox"
RELAY_NUDGE_ID = "outbox-relay-nudge"


def rq_connection(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def enqueue_all(
    connection: Redis, queue: str, function: str, jobs: Sequence[tuple[str, str]]
) -> None:
    """Enqueue `function(argument)` for each (job id, argument), in one round trip.
    Re-enqueuing a job id replaces that job instead of adding another."""
    target = Queue(queue, connection=connection)
    with connection.pipeline() as pipeline:
        for job_id, argument in jobs:
            target.enqueue(function, argument, job_id=job_id, pipeline=pipeline)
        pipeline.execute()


def nudge_relay(url: str) -> bool:
    """Ask a worker to relay the outbox now (after a commit). Cron relays anyway,
    so a failure here only delays the work."""
    connection = rq_connection(url)
    try:
        queue = Queue("maintenance", connection=connection)
        waiting = queue.fetch_job(RELAY_NUDGE_ID)
        # One waiting nudge is enough: while no worker runs, commits must not pile
        # copies of it into the queue.
        if waiting is None or waiting.get_status() is not JobStatus.QUEUED:
            queue.enqueue(RELAY_JOB, job_id=RELAY_NUDGE_ID)
    except RedisError:
        return False
    finally:
        connection.close()
    return True
