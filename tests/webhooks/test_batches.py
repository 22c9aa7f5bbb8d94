"""Batches of inbound events (issue 20 point 4) on real RQ workers, Redis and
database: an event that fails inside a batch is retried alone, under its own
job id, on the retry schedule, while the rest of the batch is processed; a
worker SIGKILLed mid-batch loses nothing and processes nothing twice."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.outbox import Dispatch, rq_enqueue
from gateway.core.clock import SystemClock
from gateway.core.queues import SERIALIZER, rq_queue
from gateway.processors.simulator import Simulator
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.outbox import BATCH_JOB, batch_job_id
from tests.support import slow_worker, wait_while_running
from tests.webhooks.conftest import run_committed as _run
from tests.webhooks.test_workers import (
    _add_pending,
    _charge_at_the_processor,
    _event,
    _receive_webhook_of,
    _retries_due_now,
    _status_of,
    _work_webhooks,
)


def _enqueue_batch(connection: Redis, event_ids: list[str], schedule: tuple[int, ...]) -> Job:
    """One batch of these events, published and enqueued as the relay does (the
    relay's buckets would split them at random)."""
    published_at = SystemClock().now()

    async def publish(session: AsyncSession, _: Simulator) -> None:
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(event_ids))
            .values(published_at=published_at)
        )

    _run(publish)
    job_id = batch_job_id(published_at, event_ids[0])
    rq_enqueue(connection)(
        [
            Dispatch(
                job_id=job_id,
                event_id=event_ids[0],
                queue="webhooks",
                function=BATCH_JOB,
                retry_intervals=schedule,
                object_ids=tuple(event_ids),
            )
        ]
    )
    return Job.fetch(job_id, connection=connection, serializer=SERIALIZER)


def _captures_of(transaction_id: str) -> int:
    async def work(session: AsyncSession, _: Simulator) -> int:
        count = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.object_id == transaction_id, Event.to_status == "captured")
        )
        return int(count or 0)

    return _run(work)


def test_an_event_failing_in_a_batch_is_retried_alone_and_the_rest_is_processed(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "3600,7200")
    first, later = (_charge_at_the_processor(ours=True) for _ in range(2))
    unknown = _charge_at_the_processor(ours=False)  # not ours yet: it fails
    ids = [_receive_webhook_of(reference) for reference in (first, unknown, later)]
    failing = ids[1]
    batch = _enqueue_batch(workers, ids, (3600, 7200))

    queue = _work_webhooks(workers)

    assert batch.get_status(refresh=True) == "finished", batch.exc_info
    assert batch.return_value() == {ids[0]: "applied", failing: "failed", ids[2]: "applied"}
    for event_id, reference in ((ids[0], first), (ids[2], later)):
        done = _event(event_id)
        assert (done.status, done.outcome, done.attempts) == ("processed", "applied", 1)
        assert _status_of(reference) == "captured"
    failed = _event(failing)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None
    assert failed.last_error.startswith("EventNotMatched")
    # Its own job, after the schedule's first interval, RQ retrying it on the rest.
    scheduled = ScheduledJobRegistry(queue=queue)
    assert scheduled.get_job_ids() == [f"webhook-{failing}"]
    due = scheduled.get_scheduled_time(f"webhook-{failing}")
    assert due >= datetime.now(UTC) + timedelta(seconds=3500)
    retry = Job.fetch(f"webhook-{failing}", connection=workers, serializer=SERIALIZER)
    assert retry.func_name == "jobs.webhooks.process_webhook_event"
    assert list(retry.args) == [failing]
    assert retry.retries_left == 1
    assert retry.retry_intervals is not None
    assert 7200 <= retry.retry_intervals[0] <= 7920
    assert FailedJobRegistry(queue=queue).count == 0

    async def ours_appears(session: AsyncSession, _: Simulator) -> None:
        await _add_pending(session, unknown, timedelta(minutes=5))

    _run(ours_appears)
    _retries_due_now(queue)
    _work_webhooks(workers)

    assert retry.return_value() == "applied"
    retried = _event(failing)
    assert (retried.status, retried.outcome, retried.attempts) == ("processed", "applied", 2)
    assert _status_of(unknown) == "captured"
    assert [_event(event_id).attempts for event_id in (ids[0], ids[2])] == [1, 1]
    assert [_captures_of(reference) for reference in (first, unknown, later)] == [1, 1, 1]


def test_a_batch_skips_what_is_no_longer_waiting(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch run again (RQ's retry of a batch that died) finds some events done
    and others owned by their own retry job: it leaves both alone."""
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "3600")
    references = [_charge_at_the_processor(ours=True) for _ in range(3)]
    ids = [_receive_webhook_of(reference) for reference in references]
    earlier = _enqueue_batch(workers, ids[:1], (3600,))
    _work_webhooks(workers)
    assert earlier.return_value() == {ids[0]: "applied"}

    async def retrying_alone(session: AsyncSession, _: Simulator) -> None:
        await session.execute(
            update(WebhookEvent).where(WebhookEvent.id == ids[1]).values(status="failed")
        )

    _run(retrying_alone)
    batch = _enqueue_batch(workers, ids, (3600,))
    _work_webhooks(workers)

    assert batch.return_value() == {
        ids[0]: "already_processed",
        ids[1]: "failed_alone",
        ids[2]: "applied",
    }
    assert _event(ids[0]).attempts == 1
    assert _event(ids[1]).status == "failed"
    assert [_captures_of(reference) for reference in (references[0], references[2])] == [1, 1]


def _processed(event_ids: list[str]) -> int:
    async def work(session: AsyncSession, _: Simulator) -> int:
        count = await session.scalar(
            select(func.count())
            .select_from(WebhookEvent)
            .where(WebhookEvent.id.in_(event_ids), WebhookEvent.status == "processed")
        )
        return int(count or 0)

    return _run(work)


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_nothing_and_processes_nothing_twice(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "0")
    # More events than the batch looks up at once (8): the last waits a whole
    # slow look-up more, so the kill lands with part of the batch committed.
    references = [_charge_at_the_processor(ours=True) for _ in range(9)]
    ids = [_receive_webhook_of(reference) for reference in references]
    batch = _enqueue_batch(workers, ids, (0,))
    with slow_worker(4000) as process:
        wait_while_running(
            process, lambda: _processed(ids) > 0, what="processed an event", within_s=90
        )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert batch.get_status(refresh=True) == "started", "killed while running it"

    # RQ's maintenance once the dead worker's heartbeat lapsed: the batch has a
    # retry left, so it is queued again, and a worker runs it to its end.
    queue = rq_queue("webhooks", workers)
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
    _work_webhooks(workers)

    assert _processed(ids) == len(ids)
    assert {_event(event_id).attempts for event_id in ids} == {1}
    assert {_status_of(reference) for reference in references} == {"captured"}
    assert [_captures_of(reference) for reference in references] == [1] * len(ids)
