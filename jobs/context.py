"""What every job opens: settings, a session, processors, one advisory lock.

Under a gateway worker (`gateway worker`, composition/worker.py) the job runs on
the worker's long-lived loop and takes the worker's pools: its engine, Redis and
processors, made once per process. Run anywhere else (a plain RQ worker, a test
calling the function), RQ 3 runs it on a fresh event loop (`asyncio.run`), so an
engine or pool made on another loop would break: the job then gets its own
engine, made on its loop and disposed when it ends. The session commits when the
job's work returns (the job is the edge).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.composition.process import StandaloneProcessors, job_sessions, open_processors
from gateway.composition.resources import field_crypto
from gateway.composition.worker import WorkerRuntime, current_runtime
from gateway.core.clock import Clock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.devsecrets import with_development_secrets
from gateway.core.faults import FaultPoints
from gateway.core.logging import configure_logging_for
from gateway.core.settings import Settings, load_settings

_log = structlog.get_logger("gateway.jobs")


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    session: AsyncSession
    clock: Clock
    crypto: FieldCrypto
    # More sessions on the job's engine, for work that commits as it goes (a batch,
    # a phase) while `session` keeps the tick lock until the job ends.
    sessions: async_sessionmaker[AsyncSession]
    # GATEWAY_FAULT_INJECTION (chaos only): money movements of jobs die between
    # their phases too.
    faults: FaultPoints = field(default_factory=FaultPoints.none)


@contextlib.asynccontextmanager
async def job_context(name: str) -> AsyncIterator[JobContext]:
    runtime = current_runtime()
    if runtime is not None:
        async with _runtime_context(runtime, name) as job:
            yield job
        return
    settings = with_development_secrets(load_settings())
    configure_logging_for(settings)
    if settings.database.url is None:
        raise RuntimeError("DATABASE_URL is not set for the worker")
    structlog.contextvars.bind_contextvars(job=name)
    try:
        async with job_sessions(settings) as sessions, sessions() as session:
            yield JobContext(
                settings=settings,
                session=session,
                clock=SystemClock(),
                crypto=field_crypto(settings),
                sessions=sessions,
                faults=FaultPoints.parse(settings.core.fault_injection),
            )
            await session.commit()
    finally:
        structlog.contextvars.unbind_contextvars("job")


@contextlib.asynccontextmanager
async def _runtime_context(runtime: WorkerRuntime, name: str) -> AsyncIterator[JobContext]:
    structlog.contextvars.bind_contextvars(job=name)
    try:
        async with runtime.sessions() as session:
            yield JobContext(
                settings=runtime.settings,
                session=session,
                clock=runtime.clock,
                crypto=runtime.crypto,
                sessions=runtime.sessions,
                faults=runtime.faults,
            )
            await session.commit()
    finally:
        structlog.contextvars.unbind_contextvars("job")


async def take_tick_lock(session: AsyncSession, name: str) -> bool:
    """A transaction-scoped advisory lock per periodic job: RQ's cron has no leader
    election, so two cron processes may enqueue one tick twice; only one runs it."""
    key = zlib.crc32(name.encode())
    taken = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    if not taken:
        _log.info("job.tick_skipped", reason="another worker runs this tick")
    return bool(taken)


def job_processors(job: JobContext) -> contextlib.AbstractAsyncContextManager[StandaloneProcessors]:
    """The processors for this job: the worker's (kept open) under a gateway
    worker, else made on the job's own loop and closed when it ends."""
    runtime = current_runtime()
    if runtime is not None:
        return contextlib.nullcontext(
            StandaloneProcessors(registry=runtime.processors, simulator=runtime.simulator)
        )
    return open_processors(job.settings, job.clock)
