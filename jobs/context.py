"""What every job opens: settings, a session on its own engine, one advisory lock.

RQ 3 runs a coroutine job on a fresh event loop (`asyncio.run`), so an engine or
pool made on another loop would break: each job gets its own NullPool engine.
The session commits when the job's work returns (the job is the edge).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import create_engine, create_session_factory
from gateway.core.devsecrets import with_development_secrets
from gateway.core.logging import configure_logging
from gateway.core.resources import field_crypto
from gateway.core.settings import Settings, load_settings

_log = structlog.get_logger("gateway.jobs")


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    session: AsyncSession
    clock: Clock
    crypto: FieldCrypto


@contextlib.asynccontextmanager
async def job_context(name: str) -> AsyncIterator[JobContext]:
    settings = with_development_secrets(load_settings())
    configure_logging(level=settings.core.log_level, json=settings.core.log_json)
    if settings.database.url is None:
        raise RuntimeError("DATABASE_URL is not set for the worker")
    engine = create_engine(settings.database, url=settings.database.url, pooled=False)
    structlog.contextvars.bind_contextvars(job=name)
    try:
        async with create_session_factory(engine)() as session:
            yield JobContext(
                settings=settings,
                session=session,
                clock=SystemClock(),
                crypto=field_crypto(settings),
            )
            await session.commit()
    finally:
        await engine.dispose()
        structlog.contextvars.unbind_contextvars("job")


async def take_tick_lock(session: AsyncSession, name: str) -> bool:
    """A transaction-scoped advisory lock per periodic job: RQ's cron has no leader
    election, so two cron processes may enqueue one tick twice; only one runs it."""
    key = zlib.crc32(name.encode())
    taken = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    if not taken:
        _log.info("job.tick_skipped", reason="another worker runs this tick")
    return bool(taken)
