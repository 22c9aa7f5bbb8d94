"""The processors a short-lived process builds for itself (an RQ job, a command).

RQ 3 runs each coroutine job on a fresh event loop, so nothing pooled may outlive
it: the simulator gets its own engine (it commits its ledger on its own
connections, never on the caller's session; pooled only for the block's life) and
a Redis client (its outage flag and the breaker's shared state), both closed when
the block ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.core.clock import Clock
from gateway.core.db import create_engine
from gateway.core.redis import create_redis
from gateway.core.resources import MissingServerError, live_and_test_processors
from gateway.core.settings import Settings
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.simulator import Simulator


@dataclass(frozen=True)
class StandaloneProcessors:
    registry: ProcessorRegistry  # behind the breaker and safe retries, as the API's
    simulator: Simulator  # its operator side: settlement, review


@contextlib.asynccontextmanager
async def open_processors(settings: Settings, clock: Clock) -> AsyncIterator[StandaloneProcessors]:
    if settings.database.url is None or settings.redis.url is None:
        raise MissingServerError("DATABASE_URL and REDIS_URL must be set")
    engine = create_engine(settings.database, url=settings.database.url, pooled=True)
    redis = create_redis(settings.redis, url=settings.redis.url)
    try:
        simulator = Simulator.from_settings(settings, engine=engine, redis=redis, clock=clock)
        yield StandaloneProcessors(
            registry=live_and_test_processors(settings, simulator, redis, clock),
            simulator=simulator,
        )
    finally:
        await redis.aclose()
        await engine.dispose()
