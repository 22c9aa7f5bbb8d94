"""Maintenance jobs (queue `maintenance`)."""

from __future__ import annotations

import structlog

from gateway.idempotency.store import IdempotencyStore
from jobs.context import job_context, take_tick_lock

_log = structlog.get_logger("gateway.jobs")


async def purge_idempotency_keys() -> int:
    """Delete Idempotency-Keys past GATEWAY_IDEMPOTENCY_RETENTION_HOURS."""
    async with job_context("purge_idempotency_keys") as job:
        if not await take_tick_lock(job.session, "purge_idempotency_keys"):
            return 0
        payments = job.settings.payments
        store = IdempotencyStore(
            job.session,
            clock=job.clock,
            crypto=job.crypto,
            lock_seconds=payments.idempotency_lock_seconds,
            retention_hours=payments.idempotency_retention_hours,
        )
        purged = 0
        while batch := await store.purge_expired():
            purged += batch
        _log.info("idempotency.purged", keys=purged)
        return purged
