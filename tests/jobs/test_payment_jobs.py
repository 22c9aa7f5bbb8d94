"""The payment sweeps as RQ jobs: run by real workers on the real Redis and
database (on the wall clock, as in production), registered with RQ's cron, and
kept to one worker per tick by the advisory lock."""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from rq import SimpleWorker
from rq.job import Job
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.audit.models import Event
from gateway.core.clock import Clock, FrozenClock, SystemClock
from gateway.core.ids import new_id
from gateway.core.queues import SERIALIZER, rq_queue
from gateway.core.settings import parse_cutoff
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.cutoff import last_cutoff
from jobs.payments import (
    compensate_orphans,
    expire_authorizations,
    reconcile_pending,
    settle_simulator,
)
from tests.processors import charge
from tests.support import run_in_thread, slow_worker, wait_while_running

T = TypeVar("T")


def _run(
    work: Callable[[AsyncSession, Simulator], Awaitable[T]],
    database_url: str,
    *,
    clock: Clock | None = None,
) -> T:
    """`work` on a committed session and a simulator (on `clock`) with engines of
    their own, in an event loop of its own, as the jobs under test run theirs."""

    async def main() -> T:
        engine = create_async_engine(database_url, poolclass=NullPool)
        redis = AsyncRedis.from_url(os.environ["REDIS_URL"])
        try:
            simulator = Simulator(engine, redis, clock or SystemClock())
            async with AsyncSession(engine, expire_on_commit=False) as session:
                result = await work(session, simulator)
                await session.commit()
                return result
        finally:
            await redis.aclose()
            await engine.dispose()

    return run_in_thread(lambda: asyncio.run(main()))


def _transaction(merchant_id: str, **fields: Any) -> Transaction:
    now = SystemClock().now()
    values: dict[str, Any] = {
        "id": new_id("txn"),
        "merchant_id": merchant_id,
        "livemode": False,
        "type": "purchase",
        "status": "captured",
        "amount": 1500,
        "currency": "USD",
        "amount_captured": 1500,
        "amount_refunded": 0,
        "metadata_": {},
        "processor": "simulator",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    return Transaction(**values)


def _pending_purchase_the_simulator_took(database_url: str) -> str:
    """A purchase whose answer was lost five minutes ago: our row pending, the
    simulator's charge recorded under our reference."""

    async def work(session: AsyncSession, simulator: Simulator) -> str:
        merchant = await MerchantService(session, SystemClock()).create_merchant("Job Shop")
        five_minutes_ago = SystemClock().now() - timedelta(minutes=5)
        pending = _transaction(
            merchant.id,
            status="pending",
            pending_reason="unknown_outcome",
            amount_captured=0,
            created_at=five_minutes_ago,
            updated_at=five_minutes_ago,
        )
        session.add(pending)
        await simulator.purchase(charge(1500, ref=pending.id))
        return pending.id

    return _run(work, database_url)


def _status(database_url: str, transaction_id: str) -> str:
    async def work(session: AsyncSession, _: Simulator) -> str:
        status = await session.scalar(
            select(Transaction.status).where(Transaction.id == transaction_id)
        )
        assert status is not None
        return status

    return _run(work, database_url)


def _run_job(connection: Redis, function: Callable[..., Any]) -> Job:
    queue = rq_queue("maintenance", connection)
    job = queue.enqueue(function)
    SimpleWorker([queue], connection=connection, serializer=SERIALIZER).work(burst=True)
    assert job.get_status(refresh=True) == "finished", job.exc_info
    return job


def test_reconcile_pending_resolves_a_lost_answer(
    job_environment: Redis, database_url: str
) -> None:
    transaction_id = _pending_purchase_the_simulator_took(database_url)

    job = _run_job(job_environment, reconcile_pending)

    result = job.return_value()
    assert result is not None
    assert (result["claimed"], result["resolved"]) == (1, {"captured": 1})
    assert _status(database_url, transaction_id) == "captured"


def test_expire_authorizations_expires_what_is_past_its_lifetime(
    job_environment: Redis, database_url: str
) -> None:
    async def work(session: AsyncSession, simulator: Simulator) -> str:
        merchant = await MerchantService(session, SystemClock()).create_merchant("Job Shop")
        taken = await simulator.authorize(charge(1500))
        authorization = _transaction(
            merchant.id,
            type="authorization",
            status="authorized",
            amount_captured=0,
            processor_transaction_id=taken.processor_transaction_id,
            expires_at=SystemClock().now() - timedelta(minutes=1),
        )
        session.add(authorization)
        return authorization.id

    transaction_id = _run(work, database_url)

    job = _run_job(job_environment, expire_authorizations)

    assert job.return_value()["expired"] == 1  # type: ignore[index]
    assert _status(database_url, transaction_id) == "expired"


def test_compensate_orphans_records_an_orphan(job_environment: Redis, database_url: str) -> None:
    async def work(session: AsyncSession, _: Simulator) -> str:
        merchant = await MerchantService(session, SystemClock()).create_merchant("Job Shop")
        now = SystemClock().now()
        orphan = _transaction(merchant.id, orphan_since=now - timedelta(hours=2))
        session.add(orphan)
        await session.flush()
        # Its client got 202 and never replayed the key.
        await session.execute(
            text(
                "INSERT INTO idempotency_keys (id, merchant_id, livemode, key, fingerprint,"
                " state, recovery_point, transaction_id, response_status, created_at,"
                " updated_at, expires_at) VALUES (:id, :merchant, false, 'k', 'f', 'completed',"
                " 'finished', :txn, 202, :at, :at, :expires)"
            ),
            {
                "id": new_id("idk"),
                "merchant": merchant.id,
                "txn": orphan.id,
                "at": now - timedelta(hours=2),
                "expires": now + timedelta(hours=70),
            },
        )
        return orphan.id

    transaction_id = _run(work, database_url)

    job = _run_job(job_environment, compensate_orphans)

    assert job.return_value()["recorded"] == 1  # type: ignore[index]
    assert _status(database_url, transaction_id) == "captured"


def test_settle_simulator_settles_what_came_before_the_cutoff(
    job_environment: Redis, database_url: str
) -> None:
    cutoff = last_cutoff(SystemClock().now(), parse_cutoff("16:00 America/Los_Angeles"))

    async def work(session: AsyncSession, simulator: Simulator) -> str:
        merchant = await MerchantService(session, SystemClock()).create_merchant("Job Shop")
        taken = await simulator.purchase(charge(1500))
        ours = _transaction(merchant.id, processor_transaction_id=taken.processor_transaction_id)
        session.add(ours)
        return ours.id

    # Taken by the simulator just before its last cut-off: the next tick settles it.
    transaction_id = _run(work, database_url, clock=FrozenClock(cutoff - timedelta(seconds=1)))

    job = _run_job(job_environment, settle_simulator)

    result = job.return_value()
    assert result is not None
    assert (result["settled"], result["marked"]) == (1, 1)

    async def settled_at(session: AsyncSession, _: Simulator) -> datetime | None:
        return await session.scalar(
            select(Transaction.settled_at).where(Transaction.id == transaction_id)
        )

    assert _run(settled_at, database_url) is not None


def test_the_payment_sweeps_are_registered_with_cron() -> None:
    from rq.cron import CronScheduler  # noqa: PLC0415

    scheduler = CronScheduler(connection=Redis())
    scheduler.load_config_from_file("jobs.cron")
    registered = {
        job.func.__name__: (job.queue_name, job.interval)  # type: ignore[union-attr]
        for job in scheduler.get_jobs()
    }
    assert registered["reconcile_pending"] == ("maintenance", 60)
    assert registered["expire_authorizations"] == ("maintenance", 300)
    assert registered["compensate_orphans"] == ("maintenance", 300)
    assert registered["settle_simulator"] == ("maintenance", 300)
    assert "purge_idempotency_keys" in registered


def _tick_lock_taken(database_url: str, job: str) -> bool:
    """Whether some session of this database holds the tick lock of `job` (a key below
    2**32 is the advisory lock's objid)."""

    async def work(session: AsyncSession, _: Simulator) -> bool:
        held = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND objid::text::bigint = :key"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"key": zlib.crc32(job.encode())},
        )
        return bool(held)

    return _run(work, database_url)


@pytest.mark.slow
def test_two_workers_on_one_tick_only_one_does_the_work(
    job_environment: Redis, database_url: str
) -> None:
    transaction_id = _pending_purchase_the_simulator_took(database_url)
    queue = rq_queue("maintenance", job_environment)
    first = queue.enqueue(reconcile_pending)
    # The first worker: a `gateway worker` process whose processor answers slowly,
    # so it holds the tick while the second worker gets the same tick.
    with slow_worker(4000) as process:
        wait_while_running(
            process,
            lambda: _tick_lock_taken(database_url, "reconcile_pending"),
            what="took the tick",
            within_s=60,
        )
        second = queue.enqueue(reconcile_pending)
        SimpleWorker([queue], connection=job_environment, serializer=SERIALIZER).work(burst=True)
        assert second.get_status(refresh=True) == "finished", second.exc_info
        assert second.return_value() == {"skipped": 1}
        assert process.wait(timeout=60) == 0
    assert first.get_status(refresh=True) == "finished", first.exc_info
    assert first.return_value()["resolved"] == {"captured": 1}  # type: ignore[index]
    assert _status(database_url, transaction_id) == "captured"

    async def events(session: AsyncSession, _: Simulator) -> int:
        count = await session.scalar(
            select(func.count()).select_from(Event).where(Event.actor == "reconciliation")
        )
        return int(count or 0)

    assert _run(events, database_url) == 1, "one worker did the work"
