"""A simulator on the test database and Redis. It commits on its own connection,
so it runs on `committed_engine`, which truncates every table afterwards. The
Authorize.Net connector on the session's sandbox server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.clock import FrozenClock
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.simulator import Simulator, SimulatorConfig
from tests.fixtures.sandbox import RunningSandbox


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


@pytest.fixture
async def authorize_net(sandbox: RunningSandbox) -> AsyncIterator[AuthorizeNetConnector]:
    """The connector on the session's `gateway sandbox serve`, over HTTP."""
    connector = sandbox.connector()
    yield connector
    await connector.aclose()
