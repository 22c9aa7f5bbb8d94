"""A simulator on the test database and Redis. It commits on its own connection,
so it runs on `committed_engine`, which truncates every table afterwards."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.clock import FrozenClock
from gateway.processors.simulator import Simulator, SimulatorConfig


@pytest.fixture
def simulator_config() -> SimulatorConfig:
    return SimulatorConfig()


@pytest.fixture
def simulator(
    committed_engine: AsyncEngine,
    redis_client: Redis,
    clock: FrozenClock,
    simulator_config: SimulatorConfig,
) -> Simulator:
    return Simulator(committed_engine, redis_client, clock, simulator_config)
