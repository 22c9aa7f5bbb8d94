"""RQ's cron scheduler, enqueuing as JSON (`gateway cron`).

RQ 3's `CronJob.enqueue` builds its `Queue` without a serializer, so a cron job
would be pickled (and, with `queues.refuse_pickle`, fail). `JsonCronScheduler`
keeps everything else of RQ's scheduler (the registrations of jobs/cron.py, its
heartbeat and registry, which `gateway healthcheck cron` reads) and makes each
registered job enqueue through `queues.rq_queue`.
"""

from __future__ import annotations

import logging
from typing import Any

from redis import Redis
from rq import cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.job import Job

from gateway.core.queues import rq_queue

_log = logging.getLogger(__name__)


class JsonCronJob(CronJob):
    """A `CronJob` whose enqueue serializes as JSON. RQ 3.0's `CronJob.enqueue`
    with only the queue changed: keep it in step when RQ is upgraded."""

    def enqueue(self, connection: Redis) -> Job:
        if not self.func:
            raise ValueError("a cron job restored for monitoring has no function to enqueue")
        target = rq_queue(self.queue_name, connection)
        with connection.pipeline() as pipeline:
            job = target.enqueue(
                self.func, args=self.args, kwargs=self.kwargs, **self.job_options, pipeline=pipeline
            )
            assert job.enqueued_at is not None
            enqueued = job.enqueued_at.timestamp()
            pipeline.zadd(self.job_history_key, {job.id: enqueued})
            pipeline.zremrangebyrank(self.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
            pipeline.expire(self.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
            cron_job_registry.add(self.name, pipeline, enqueue_timestamp=enqueued)
            pipeline.execute()
        _log.info("Enqueued job %s to queue %s", self.func_name, self.queue_name)
        return job


class JsonCronScheduler(CronScheduler):
    """RQ's `CronScheduler` whose registered jobs are `JsonCronJob`s."""

    def register(self, *args: Any, **kwargs: Any) -> CronJob:
        registered = super().register(*args, **kwargs)
        # A JsonCronJob holds nothing a CronJob does not; only its enqueue differs.
        registered.__class__ = JsonCronJob
        return registered
