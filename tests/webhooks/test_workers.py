"""Inbound events processed by real RQ workers on the real Redis and database
(issue points 2, 3 and 7): relayed with a jittered `Retry`, retried by RQ's
scheduler, dead after the last attempt (in PostgreSQL and in RQ's failed
registry), replayed, and unmatched after the grace window.

Retry intervals are never waited for: a test either sets them to 0 or moves a
scheduled retry to "now" before the next burst."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli import main
from gateway.core.clock import SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import SERIALIZER, rq_queue
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.models import SimulatorTransaction, SimulatorWebhook
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.service import InboxService
from gateway.webhooks.signature import sign
from jobs.outbox import relay_outbox
from tests.processors import charge
from tests.webhooks.conftest import run_committed as _run


def _charge_at_the_processor(*, ours: bool, age: timedelta = timedelta(minutes=5)) -> str:
    """A purchase the simulator took (and owes a webhook about); with `ours`, our
    pending record of it too. Returns the reference (our txn_ id)."""

    async def work(session: AsyncSession, simulator: Simulator) -> str:
        reference = new_id("txn")
        if ours:
            await _add_pending(session, reference, age)
        await simulator.purchase(charge(1500, ref=reference))
        return reference

    return _run(work)


async def _add_pending(session: AsyncSession, reference: str, age: timedelta) -> None:
    merchant = await MerchantService(session, SystemClock()).create_merchant("Worker Shop")
    made_at = SystemClock().now() - age
    session.add(
        Transaction(
            id=reference, merchant_id=merchant.id, livemode=False, type="purchase",
            status="pending", pending_reason="unknown_outcome", amount=1500, currency="USD",
            amount_captured=0, amount_refunded=0, metadata_={}, processor="simulator",
            created_at=made_at, updated_at=made_at,
        )
    )  # fmt: skip


def _receive_webhook_of(reference: str) -> str:
    """The simulator's webhook about `reference`, received as the endpoint does."""

    async def receive(session: AsyncSession, _: Simulator) -> str:
        body = await session.scalar(
            select(SimulatorWebhook.body)
            .join(SimulatorTransaction, SimulatorTransaction.id == SimulatorWebhook.transaction_id)
            .where(SimulatorTransaction.reference == reference)
        )
        assert body is not None
        key = os.environ["GATEWAY_AUTHORIZE_NET_SIGNATURE_KEYS"]
        received = await InboxService(session, SystemClock()).receive(
            "simulator", body.encode(), sign(body.encode(), key), [key]
        )
        return received.event_id

    return _run(receive)


def _event(event_id: str) -> WebhookEvent:
    async def work(session: AsyncSession, _: Simulator) -> WebhookEvent:
        event = await session.get(WebhookEvent, event_id)
        assert event is not None
        return event

    return _run(work)


def _status_of(transaction_id: str) -> str:
    async def work(session: AsyncSession, _: Simulator) -> str:
        status = await session.scalar(
            select(Transaction.status).where(Transaction.id == transaction_id)
        )
        assert status is not None
        return status

    return _run(work)


def _outage(connection: Redis, *, on: bool) -> None:
    if on:
        connection.set("gateway:simulator:outage", "1")
    else:
        connection.delete("gateway:simulator:outage")


def _relay(connection: Redis) -> None:
    maintenance = rq_queue("maintenance", connection)
    job = maintenance.enqueue(relay_outbox)
    SimpleWorker([maintenance], connection=connection, serializer=SERIALIZER).work(burst=True)
    assert job.get_status(refresh=True) == "finished", job.exc_info


def _work_webhooks(connection: Redis) -> Queue:
    queue = rq_queue("webhooks", connection)
    SimpleWorker([queue], connection=connection, serializer=SERIALIZER).work(
        burst=True, with_scheduler=True
    )
    return queue


def _retries_due_now(queue: Queue) -> None:
    """What RQ's scheduler would do once the retry interval has passed."""
    registry = ScheduledJobRegistry(queue=queue)
    for job_id in registry.get_job_ids():
        queue.schedule_job(
            Job.fetch(job_id, connection=queue.connection, serializer=SERIALIZER), datetime.now(UTC)
        )


def test_a_stored_event_is_relayed_with_a_jittered_retry_and_processed(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "30,600")
    reference = _charge_at_the_processor(ours=True)
    event_id = _receive_webhook_of(reference)
    assert _receive_webhook_of(reference) == event_id, "a redelivery stores nothing"

    _relay(workers)

    [job_id] = rq_queue("webhooks", workers).job_ids
    assert job_id.startswith("webhooks-"), "one batch job, for the row that was new"
    job = Job.fetch(job_id, connection=workers, serializer=SERIALIZER)
    assert job.func_name == "jobs.webhooks.process_webhook_events"
    assert list(job.args) == [[event_id]], "ids only"
    # The batch retries as a whole only if it dies as a whole (a killed worker).
    assert job.retries_left == 2
    assert job.retry_intervals is not None
    first, second = job.retry_intervals
    assert 30 <= first <= 33
    assert 600 <= second <= 660
    assert _event(event_id).published_at is not None
    # The simulator's own webhooks went out through the same relay.
    assert rq_queue("simulator", workers).count >= 1

    _work_webhooks(workers)

    assert job.get_status(refresh=True) == "finished", job.exc_info
    assert job.return_value() == {event_id: "applied"}
    assert _status_of(reference) == "captured"
    event = _event(event_id)
    assert (event.status, event.outcome, event.attempts) == ("processed", "applied", 1)


def test_a_failed_attempt_is_retried_by_the_scheduler_then_succeeds(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "3600")
    reference = _charge_at_the_processor(ours=True)
    event_id = _receive_webhook_of(reference)
    _relay(workers)
    _outage(workers, on=True)

    queue = _work_webhooks(workers)

    failed = _event(event_id)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None
    assert "outage" in failed.last_error
    assert ScheduledJobRegistry(queue=queue).count == 1, "waiting for its retry"
    assert _status_of(reference) == "pending"

    _outage(workers, on=False)
    _retries_due_now(queue)
    _work_webhooks(workers)

    processed = _event(event_id)
    assert (processed.status, processed.outcome, processed.attempts) == ("processed", "applied", 2)
    assert processed.last_error is None
    assert _status_of(reference) == "captured"
    assert FailedJobRegistry(queue=queue).count == 0


def test_exhausted_retries_leave_the_event_dead_and_a_replay_processes_it(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "0,0")
    reference = _charge_at_the_processor(ours=True)
    event_id = _receive_webhook_of(reference)
    _relay(workers)
    _outage(workers, on=True)

    queue = _work_webhooks(workers)  # three attempts, no wait between them

    dead = _event(event_id)
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert dead.last_error is not None
    assert dead.last_error.startswith("NotSentError")
    failed = FailedJobRegistry(queue=queue)
    assert failed.get_job_ids() == [f"webhook-{event_id}"], "in RQ's failed registry too"

    _outage(workers, on=False)
    replayed = CliRunner().invoke(main, ["webhooks", "replay", "--status", "dead", "--json"])
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout) == {"replayed": 1}
    assert _event(event_id).status == "received"

    _relay(workers)
    _work_webhooks(workers)

    replay_job = Job.fetch(
        f"webhook-{event_id}-replay-1", connection=workers, serializer=SERIALIZER
    )
    assert replay_job.return_value() == "applied"
    event = _event(event_id)
    assert (event.status, event.outcome, event.attempts) == ("processed", "applied", 4)
    assert _status_of(reference) == "captured"


def test_an_unknown_transaction_past_the_grace_window_is_processed_unmatched(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "3600")
    reference = _charge_at_the_processor(ours=False)
    event_id = _receive_webhook_of(reference)

    async def received_long_ago(session: AsyncSession, _: Simulator) -> None:
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(received_at=SystemClock().now() - timedelta(hours=1))
        )

    _run(received_long_ago)
    _relay(workers)
    queue = _work_webhooks(workers)

    event = _event(event_id)
    assert (event.status, event.outcome) == ("processed", "unmatched")
    assert ScheduledJobRegistry(queue=queue).count == 0, "not asked again"


def test_an_unknown_transaction_matched_within_the_grace_window_is_applied(
    workers: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_RETRY_SCHEDULE_S", "3600")
    reference = _charge_at_the_processor(ours=False)
    event_id = _receive_webhook_of(reference)
    _relay(workers)
    queue = _work_webhooks(workers)
    assert _event(event_id).status == "failed"
    assert ScheduledJobRegistry(queue=queue).count == 1

    async def ours_appears(session: AsyncSession, _: Simulator) -> None:
        await _add_pending(session, reference, timedelta(minutes=5))

    _run(ours_appears)
    _retries_due_now(queue)
    _work_webhooks(workers)

    event = _event(event_id)
    assert (event.status, event.outcome) == ("processed", "applied")
    assert _status_of(reference) == "captured"
