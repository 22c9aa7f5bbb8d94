"""Deliveries live in PostgreSQL, not in Redis or a worker's memory: a Redis
that restarts empty loses none (cron's sweep finds them), and a worker killed
mid-attempt leaves a lease that runs out, after which the attempt is made again
(at least once: the receiver sees the `webhook-id` twice) and the delivery ends
succeeded once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from redis import Redis

from gateway.core.queues import QUEUE_NAMES, rq_queue
from jobs.deliveries import sweep_deliveries
from tests.fixtures.app import flush_test_redis
from tests.support import run_in_thread
from tests.webhooks.outbound.conftest import Deliveries, render_envelope
from tests.webhooks.outbound.receiver import Answer, Receiver

ROOT = Path(__file__).resolve().parents[3]


async def test_a_redis_restart_that_loses_every_job_loses_no_delivery(
    deliveries: Deliveries, receiver: Receiver, job_environment: Redis
) -> None:
    endpoint, secrets = await deliveries.endpoint(receiver.url("/hooks"))
    receiver.verify_with("/hooks", [secrets.current])
    delivery = await deliveries.delivery(endpoint)
    queue = rq_queue("deliveries", job_environment)
    queue.enqueue("jobs.deliveries.deliver_due", delivery.event_id)

    flush_test_redis(job_environment)  # Redis restarted empty
    assert queue.count == 0

    def cron_sweep() -> int:
        return asyncio.run(sweep_deliveries(render=render_envelope))

    assert run_in_thread(cron_sweep) == 1
    assert run_in_thread(cron_sweep) == 0
    [request] = receiver.at("/hooks")
    assert request.verified == (True,)
    done = await deliveries.get(delivery.id)
    assert (done.status, done.attempts) == ("succeeded", 1)


def _wait_for(condition: object, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


async def test_a_worker_killed_mid_delivery_is_replaced_by_the_next_sweep_once(
    deliveries: Deliveries, receiver: Receiver, job_environment: Redis
) -> None:
    endpoint, secrets = await deliveries.endpoint(receiver.url("/hooks"))
    receiver.verify_with("/hooks", [secrets.current])
    receiver.answer("/hooks", Answer(stall_s=30))  # the first attempt never ends
    delivery = await deliveries.delivery(endpoint)
    # The attempt outlives the kill (a 30 s timeout; the default lease, 60 s, is longer).
    environment = {**os.environ, "GATEWAY_WEBHOOK_DELIVERY_TIMEOUT_S": "30"}
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.webhooks.outbound.sweep_process",
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(_wait_for, lambda: len(receiver.at("/hooks")) == 1)
        receiver.answer("/hooks", Answer(status=200))
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), timeout=10)

    in_flight = await deliveries.get(delivery.id)
    assert (in_flight.status, in_flight.attempts) == ("pending", 1)
    assert in_flight.leased_until is not None
    # The lease runs out: the test's clock steps past it instead of waiting.
    deliveries.clock.set(max(datetime.now(UTC), in_flight.leased_until) + timedelta(seconds=1))
    async with deliveries.worker() as sweeper:
        assert await sweeper.run() == 1
        assert await sweeper.run() == 0

    first, second = receiver.at("/hooks")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.event_id
    assert first.verified == second.verified == (True,)
    done = await deliveries.get(delivery.id)
    assert (done.status, done.attempts, done.leased_until) == ("succeeded", 2, None)
    assert [a.attempt for a in await deliveries.attempts_of(delivery.id)] == [2]


def test_cron_sweeps_deliveries_every_5_seconds_on_a_queue_the_workers_consume() -> None:
    from rq.cron import CronScheduler  # noqa: PLC0415 - loads every job module

    scheduler = CronScheduler(connection=Redis())
    scheduler.load_config_from_file("jobs.cron")
    [sweep] = [
        job for job in scheduler.get_jobs() if job.func_name == "jobs.deliveries.deliver_due"
    ]
    assert (sweep.queue_name, sweep.interval) == ("deliveries", 5)
    assert "deliveries" in QUEUE_NAMES  # `gateway worker` (and `gateway up`) consume them all
