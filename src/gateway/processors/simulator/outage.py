"""`gateway simulator outage on|off`: a flag every simulator call reads.

The in-process simulator keeps it in Redis, shared by every process, so a
breaker test can switch the processor off under running API and worker
processes. `gateway sandbox serve` is one process with a database of its own
and no business with the gateway's Redis: it keeps its flag in memory.
"""

from __future__ import annotations

from typing import Final, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

OUTAGE_KEY: Final = "gateway:simulator:outage"

_log = structlog.get_logger("gateway.simulator")


class Outage(Protocol):
    async def is_on(self) -> bool: ...

    async def turn(self, *, on: bool) -> None: ...


class OutageSwitch:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def is_on(self) -> bool:
        try:
            return bool(await self._redis.exists(OUTAGE_KEY))
        except RedisError as error:
            # ANET.md §9: an unreadable flag counts as off, so losing Redis never
            # stops payments that the simulator would otherwise take.
            _log.warning("simulator.outage_flag_unreadable", error=type(error).__name__)
            return False

    async def turn(self, *, on: bool) -> None:
        """Raises RedisError when Redis cannot be reached: the operator must know."""
        if on:
            await self._redis.set(OUTAGE_KEY, "1")
        else:
            await self._redis.delete(OUTAGE_KEY)


class LocalOutage:
    """The flag of a single process (the sandbox server's)."""

    def __init__(self) -> None:
        self._on = False

    async def is_on(self) -> bool:
        return self._on

    async def turn(self, *, on: bool) -> None:
        self._on = on
