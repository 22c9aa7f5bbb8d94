"""What core's health checks and metrics read of a running process.

The composition root's `Resources` satisfies it; core names only this shape, so
it never depends on the packages that build processors.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto


class BreakerState(StrEnum):
    """A processor's circuit breaker, as /health and the metrics report it (the
    breaker itself lives in `processors`)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerReadings(Protocol):
    async def breaker_state(self) -> str:
        """The deployment's processor's breaker state, as /health reports it."""
        ...

    async def breaker_states(self) -> Mapping[str, str]:
        """Every processor's breaker state, by processor name."""
        ...


class ProcessHandles(Protocol):
    @property
    def engine(self) -> AsyncEngine: ...

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def redis(self) -> Redis: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def crypto(self) -> FieldCrypto: ...

    @property
    def processors(self) -> BreakerReadings: ...
