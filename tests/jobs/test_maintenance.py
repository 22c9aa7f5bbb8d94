"""The retention purge, run by a real RQ worker on the real Redis and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import SimpleWorker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.core.queues import SERIALIZER, rq_queue
from jobs.maintenance import purge_idempotency_keys
from tests.support import run_in_thread


def _sql(database_url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement), params)
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return run_in_thread(lambda: asyncio.run(run()))


def _insert_key(database_url: str, key: str, expires_at: datetime) -> None:
    _sql(
        database_url,
        "INSERT INTO idempotency_keys (id, merchant_id, livemode, key, fingerprint, state,"
        " recovery_point, created_at, updated_at, expires_at)"
        " VALUES (:id, 'mer_X', false, :key, 'f', 'completed', 'finished', :at, :at, :expires)",
        id=f"idk_{key}",
        key=key,
        at=expires_at - timedelta(hours=72),
        expires=expires_at,
    )


def test_the_purge_job_deletes_only_expired_keys(job_environment: Redis, database_url: str) -> None:
    now = datetime.now(UTC)
    _insert_key(database_url, "expired", now - timedelta(minutes=1))
    _insert_key(database_url, "kept", now + timedelta(hours=1))
    queue = rq_queue("maintenance", job_environment)
    job = queue.enqueue(purge_idempotency_keys)
    SimpleWorker([queue], connection=job_environment, serializer=SERIALIZER).work(burst=True)
    assert job.get_status(refresh=True) == "finished", job.exc_info
    assert job.return_value() == 1
    keys = _sql(database_url, "SELECT key FROM idempotency_keys")
    assert keys == [("kept",)]


def test_the_purge_is_registered_with_cron() -> None:
    from rq.cron import CronScheduler  # noqa: PLC0415

    scheduler = CronScheduler(connection=Redis())
    scheduler.load_config_from_file("jobs.cron")
    names = {job.func.__name__ for job in scheduler.get_jobs()}  # type: ignore[union-attr]
    assert "purge_idempotency_keys" in names
