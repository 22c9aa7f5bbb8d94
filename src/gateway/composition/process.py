"""A whole process's set of resources, one builder per kind of process.

The API holds pooled engines for its life. A job (RQ 3 runs each on a fresh
event loop) and a command build theirs on their own loop and close them when
they end: a job's engine is pooled only for the job's life (a batch opens many
sessions), a command's is not pooled at all (DESIGN.md "Traps").
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.composition import processors
from gateway.composition.resources import (
    Resources,
    database_engine,
    field_crypto,
    rate_limiter,
    redis_client,
    relay_nudge,
    require_servers,
)
from gateway.core.clock import Clock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import create_session_factory
from gateway.core.faults import FaultPoints
from gateway.core.relay_nudge import RelayNudge
from gateway.core.settings import Settings
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.simulator import Simulator


def api_resources(settings: Settings, *, clock: Clock | None = None) -> Resources:
    """The API's: pooled engines for the process's life, the simulator's apart
    (it commits on its own connections), closed by `Resources.aclose`."""
    require_servers(settings)
    engine = database_engine(settings, pooled=True)
    simulator_engine = database_engine(settings, pooled=True)
    redis = redis_client(settings)
    clock = clock or SystemClock()
    simulator = processors.simulator(settings, engine=simulator_engine, redis=redis, clock=clock)
    return Resources(
        engine=engine,
        session_factory=create_session_factory(engine),
        redis=redis,
        clock=clock,
        crypto=field_crypto(settings),
        processors=processors.processor_registry(settings, simulator, redis, clock),
        processors_at=processors.processors_at(settings, engine=simulator_engine, redis=redis),
        processor_engines=(simulator_engine,),
        faults=FaultPoints.parse(settings.core.fault_injection),
        relay=relay_nudge(settings),
        rate_limiter=rate_limiter(redis),
    )


def lent_resources(
    settings: Settings,
    *,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    redis: Redis,
    clock: Clock,
    crypto: FieldCrypto,
    simulator: Simulator,
    relay: RelayNudge | None = None,
    limiter_redis: Redis | None = None,
) -> Resources:
    """A process on clients someone else owns and closes (the tests'): composed as
    the API's, from the simulator given (on whatever engine and clock it has); the
    rate limiter on `limiter_redis` if given (an unreachable one), else on `redis`."""
    return Resources(
        engine=engine,
        session_factory=session_factory,
        redis=redis,
        clock=clock,
        crypto=crypto,
        processors=processors.processor_registry(settings, simulator, redis, clock),
        # A test clock's simulator commits on the lent engine's connections.
        processors_at=processors.processors_at(settings, engine=engine, redis=redis),
        owned=False,
        relay=relay,
        rate_limiter=rate_limiter(limiter_redis or redis),
    )


@contextlib.asynccontextmanager
async def open_engine(settings: Settings, *, pooled: bool) -> AsyncIterator[AsyncEngine]:
    """An engine for one block (a job, a command), disposed when it ends."""
    engine = database_engine(settings, pooled=pooled)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def open_sessions(
    settings: Settings, *, pooled: bool
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with open_engine(settings, pooled=pooled) as engine:
        yield create_session_factory(engine)


def job_sessions(
    settings: Settings,
) -> contextlib.AbstractAsyncContextManager[async_sessionmaker[AsyncSession]]:
    """A job's sessions: its small pool lives only as long as the job, yet spares a
    batch (two sessions per invoice) a new connection per session."""
    return open_sessions(settings, pooled=True)


def command_sessions(
    settings: Settings,
) -> contextlib.AbstractAsyncContextManager[async_sessionmaker[AsyncSession]]:
    """A command's sessions: no pool, one short event loop."""
    return open_sessions(settings, pooled=False)


def command_engine(settings: Settings) -> contextlib.AbstractAsyncContextManager[AsyncEngine]:
    return open_engine(settings, pooled=False)


@contextlib.asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[Redis]:
    redis = redis_client(settings)
    try:
        yield redis
    finally:
        await redis.aclose()


@dataclass(frozen=True)
class StandaloneProcessors:
    """The processors a short-lived process (a job, a command) builds for itself."""

    registry: ProcessorRegistry  # behind the breaker and safe retries, as the API's
    simulator: Simulator  # its operator side: settlement, review


@contextlib.asynccontextmanager
async def open_processors(settings: Settings, clock: Clock) -> AsyncIterator[StandaloneProcessors]:
    """On the block's own loop: the simulator on an engine of its own (pooled only
    for the block's life) and a Redis client (its outage flag and the breaker's
    shared state), both closed when the block ends."""
    require_servers(settings)
    async with open_engine(settings, pooled=True) as engine, open_redis(settings) as redis:
        simulator = processors.simulator(settings, engine=engine, redis=redis, clock=clock)
        registry = processors.processor_registry(settings, simulator, redis, clock)
        try:
            yield StandaloneProcessors(registry=registry, simulator=simulator)
        finally:
            await registry.aclose()


@contextlib.asynccontextmanager
async def command_simulator(settings: Settings, clock: Clock) -> AsyncIterator[Simulator]:
    """The simulator on an engine of its own, as every process builds it: its
    commits never ride on the command's session."""
    require_servers(settings)
    async with command_engine(settings) as engine, open_redis(settings) as redis:
        yield processors.simulator(settings, engine=engine, redis=redis, clock=clock)


@contextlib.asynccontextmanager
async def command_process(settings: Settings) -> AsyncIterator[Resources]:
    """A command's whole process on one unpooled engine (its sessions and the
    simulator's), on the wall clock; closed when the command's work ends."""
    require_servers(settings)
    async with command_engine(settings) as engine, open_redis(settings) as redis:
        clock = SystemClock()
        simulator = processors.simulator(settings, engine=engine, redis=redis, clock=clock)
        registry = processors.processor_registry(settings, simulator, redis, clock)
        try:
            yield Resources(
                engine=engine,
                session_factory=create_session_factory(engine),
                redis=redis,
                clock=clock,
                crypto=field_crypto(settings),
                processors=registry,
                processors_at=processors.processors_at(settings, engine=engine, redis=redis),
                owned=False,  # the blocks above close them
            )
        finally:
            await registry.aclose()
