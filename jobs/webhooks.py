"""Processing of inbound processor events (queue `webhooks`).

The outbox relay enqueues new events in batches (`process_webhook_events`, job
id `webhooks-<relay pass>-<bucket>`) and a replayed one alone
(`process_webhook_event`, `webhook-<id>-replay-<n>`), each with RQ's `Retry`
on GATEWAY_WEBHOOK_RETRY_SCHEDULE_S (jittered per job). A batch retries as a
whole only when it dies as a whole (a killed worker, a timeout); an event that
fails inside it is retried alone: `process_webhook_event` under `webhook-<id>`,
scheduled after the schedule's first interval with RQ's `Retry` on the rest, so
an event gets the attempts it always had. Whether a run is an event's last
attempt is RQ's count of the retries left, so the service knows when a failure
makes the event dead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import timedelta

from redis import Redis
from rq import Retry, get_current_job

from gateway.core.queues import jittered, rq_connection, rq_queue
from gateway.processors.registry import ProcessorRegistry
from gateway.webhooks.outbox import PROCESS_JOB, QUEUE, single_job_id
from gateway.webhooks.processing import RetryAlone, WebhookProcessing
from jobs.context import JobContext, job_context, job_processors


def _is_last_attempt() -> bool:
    job = get_current_job()
    return job is None or not job.should_retry


def _processing(job: JobContext, registry: ProcessorRegistry) -> WebhookProcessing:
    return WebhookProcessing(
        job.sessions,
        clock=job.clock,
        processors=registry,
        crypto=job.crypto,
        settings=job.settings,
    )


async def process_webhook_event(event_id: str) -> str:
    async with job_context("process_webhook_event") as job, job_processors(job) as processors:
        processing = _processing(job, processors.registry)
        return await processing.process(event_id, last_attempt=_is_last_attempt())


def retry_alone_on(connection: Redis, schedule: Sequence[int]) -> RetryAlone | None:
    """An event's own job after its attempt in a batch failed: that attempt was
    its first, so the next comes after the schedule's first interval and RQ
    retries it on the rest. None when the schedule has no retry."""
    if not schedule:
        return None

    def retry_alone(event_id: str, replays: int) -> None:
        first, *rest = jittered(schedule)
        queue = rq_queue(QUEUE, connection)
        job_id = single_job_id(event_id, replays)
        retry = Retry(max=len(rest), interval=rest) if rest else None
        if first:
            queue.enqueue_in(
                timedelta(seconds=first), PROCESS_JOB, event_id, job_id=job_id, retry=retry
            )
        else:
            queue.enqueue(PROCESS_JOB, event_id, job_id=job_id, retry=retry)

    return retry_alone


async def process_webhook_events(event_ids: list[str]) -> dict[str, str]:
    """One attempt at each event of a batch; each event's outcome."""
    async with job_context("process_webhook_events") as job, job_processors(job) as processors:
        processing = _processing(job, processors.registry)
        schedule = job.settings.webhooks.webhook_retry_schedule_s
        with _rq_connection(job) as connection:
            return await processing.process_batch(
                event_ids, retry_alone=retry_alone_on(connection, schedule)
            )


@contextlib.contextmanager
def _rq_connection(job: JobContext) -> Iterator[Redis]:
    """The running job's own connection to RQ; run outside RQ, one of its own."""
    current = get_current_job()
    if current is not None:
        yield current.connection
        return
    assert job.settings.redis.url is not None
    connection = rq_connection(job.settings.redis.url)
    try:
        yield connection
    finally:
        connection.close()
