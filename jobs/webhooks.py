"""Processing of inbound processor events (queue `webhooks`).

Enqueued by the outbox relay with RQ's `Retry` on GATEWAY_WEBHOOK_RETRY_SCHEDULE_S
(jittered per job); whether this run is the last attempt is RQ's count of the
retries left, so the service knows when a failure makes the event dead.
"""

from __future__ import annotations

from rq import get_current_job

from gateway.webhooks.processing import WebhookProcessing
from jobs.context import job_context, job_processors


def _is_last_attempt() -> bool:
    job = get_current_job()
    return job is None or not job.should_retry


async def process_webhook_event(event_id: str) -> str:
    async with job_context("process_webhook_event") as job, job_processors(job) as processors:
        processing = WebhookProcessing(
            job.sessions,
            clock=job.clock,
            processors=processors.registry,
            crypto=job.crypto,
            settings=job.settings,
        )
        return await processing.process(event_id, last_attempt=_is_last_attempt())
