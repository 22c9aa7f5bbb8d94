"""The RQ queues (DESIGN.md "Events, outbox and background work") and handing
work to them. Jobs carry ids only; their functions live in the `jobs` package and
are named here by path, so the service never imports its workers.

Jobs are serialized as JSON (`SERIALIZER`), never pickled: whoever can write to
Redis must not be able to run code in a worker. Every `Queue`, worker, registry
and `Job.fetch` of the gateway is given `SERIALIZER` (`rq_queue()` builds a queue
with it). Importing this module also disables RQ's pickle serializer in the
process (`refuse_pickle`), so a place that forgot the serializer fails at once
instead of pickling, and nothing that reads Redis (rq-dashboard's workers page
included, which fetches jobs without a serializer) ever unpickles.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.serializers import DefaultSerializer, JSONSerializer, Serializer

QUEUE_NAMES: tuple[str, ...] = ("webhooks", "billing", "deliveries", "simulator", "maintenance")

# The order a worker takes its queues in: RQ always serves the first non-empty one.
# `maintenance` carries the outbox relay, which feeds every other queue (inbound
# events reach `webhooks` only through it); taken last, a backlog of outbound
# deliveries kept the relay, and so inbound processing, waiting behind it. It is
# short and cannot flood: one relay nudge waits at most (`send_nudge`), and cron
# ticks come by the minute.
WORKER_QUEUES: tuple[str, ...] = ("maintenance", "webhooks", "billing", "deliveries", "simulator")

RELAY_JOB = "jobs.outbox.relay_outbox"
RELAY_NUDGE_ID = "outbox-relay-nudge"

SERIALIZER: Serializer = JSONSerializer


class PickleRefused(RuntimeError):
    """RQ was asked to pickle or unpickle: the caller did not pass `SERIALIZER`."""


def _refuse_pickle(*_: Any, **__: Any) -> NoReturn:
    raise PickleRefused(
        "RQ's pickle serializer is disabled: pass serializer=gateway.core.queues.SERIALIZER"
    )


def refuse_pickle() -> None:
    """Make RQ's default (pickle) serializer raise instead of (un)pickling. RQ
    looks `dumps`/`loads` up on the class at each call, so this reaches every
    default-serialized job, result and meta in the process (and forked workers)."""
    DefaultSerializer.dumps = staticmethod(_refuse_pickle)
    DefaultSerializer.loads = staticmethod(_refuse_pickle)


refuse_pickle()


def rq_queue(name: str, connection: Redis) -> Queue:
    """The RQ queue `name`, serializing its jobs as JSON."""
    return Queue(name, connection=connection, serializer=SERIALIZER)


def rq_connection(url: str) -> Redis:
    return Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


@dataclass(frozen=True)
class QueuedJob:
    """`function(argument)` on `queue` under `job_id`; with `retry_intervals` (in
    seconds, one per retry) a failure is retried after each in turn, by RQ's
    scheduler. Intervals are fixed when enqueued: jitter them before."""

    queue: str
    function: str
    argument: str | tuple[str, ...]  # ids only, never an object
    job_id: str
    retry_intervals: tuple[int, ...] = ()


RETRY_JITTER = 0.1


def jittered(schedule: Sequence[int], *, jitter: float = RETRY_JITTER) -> tuple[int, ...]:
    """Retry intervals for one job: each interval of `schedule` stretched by up to
    `jitter` of itself, so jobs that failed together do not all retry together.
    RQ keeps intervals fixed once enqueued, hence drawn here."""
    spread = random.uniform
    return tuple(round(interval * (1 + spread(0, jitter))) for interval in schedule)


def enqueue_all(connection: Redis, jobs: Sequence[QueuedJob]) -> None:
    """Enqueue every job in one round trip. Re-enqueuing a job id replaces that job
    instead of adding another."""
    queues: dict[str, Queue] = {}
    with connection.pipeline() as pipeline:
        for job in jobs:
            target = queues.setdefault(job.queue, rq_queue(job.queue, connection))
            intervals = list(job.retry_intervals)
            retry = Retry(max=len(intervals), interval=intervals) if intervals else None
            argument = job.argument if isinstance(job.argument, str) else list(job.argument)
            target.enqueue(
                job.function, argument, job_id=job.job_id, retry=retry, pipeline=pipeline
            )
        pipeline.execute()


def missing_jobs(connection: Redis, job_ids: Sequence[str]) -> set[str]:
    """The ids among `job_ids` of jobs Redis does not hold (lost with a restart)."""
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in job_ids:
            pipeline.exists(Job.key_for(job_id))
        found = pipeline.execute()
    return {job_id for job_id, exists in zip(job_ids, found, strict=True) if not exists}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def send_nudge(connection: Redis) -> bool:
    """Ask a worker to relay the outbox now (after a commit). Cron relays anyway,
    so a failure here only delays the work."""
    try:
        # One waiting nudge is enough: while no worker runs, commits must not pile
        # copies of it into the queue. Its status alone, in one command (fetching
        # the job and then its status took two).
        status = connection.hget(Job.key_for(RELAY_NUDGE_ID), "status")
        if status is None or _text(status) != JobStatus.QUEUED.value:
            rq_queue("maintenance", connection).enqueue(RELAY_JOB, job_id=RELAY_NUDGE_ID)
    except RedisError:
        return False
    return True


def nudge_relay(url: str) -> bool:
    """`send_nudge` on a connection of its own: for one-off processes (a CLI
    command, a job) that nudge once. A server nudges through `core.relay_nudge`."""
    connection = rq_connection(url)
    try:
        return send_nudge(connection)
    finally:
        connection.close()
