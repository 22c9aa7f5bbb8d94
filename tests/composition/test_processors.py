"""The composition root's processor selection: test keys always the simulator,
live keys the kind GATEWAY_PROCESSOR names, each behind its breaker."""

from __future__ import annotations

from typing import get_args

import pytest
from redis.asyncio import Redis

from gateway.composition.processors import LIVE_PROCESSORS, processor_registry
from gateway.core.clock import FrozenClock
from gateway.core.processor_settings import ProcessorName
from gateway.core.setting_types import SettingsError
from gateway.core.settings import Settings
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.breaker import BreakerState
from gateway.processors.resilient import ResilientProcessor
from gateway.processors.simulator import Simulator
from tests.fixtures.app import make_settings


def test_every_processor_setting_has_a_builder() -> None:
    assert set(LIVE_PROCESSORS) == set(get_args(ProcessorName))


def test_the_simulator_serves_both_modes_behind_one_breaker(
    settings: Settings, simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    registry = processor_registry(settings, simulator, redis_client, clock)
    assert registry.for_mode(False).name == "simulator"
    assert registry.for_mode(True) is registry.for_mode(False)


LOCAL = "http://127.0.0.1:8090/xml/v1/request.api"
CONNECTOR = {
    "GATEWAY_PROCESSOR": "authorize_net",
    "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "login1234",
    "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "0123456789abcdef",
}


async def test_live_keys_get_the_connector_behind_a_breaker_of_its_own(
    database_url: str,
    test_redis_url: str,
    simulator: Simulator,
    redis_client: Redis,
    clock: FrozenClock,
) -> None:
    settings = make_settings(
        database_url, test_redis_url, {**CONNECTOR, "GATEWAY_AUTHORIZE_NET_ENVIRONMENT": LOCAL}
    )
    registry = processor_registry(settings, simulator, redis_client, clock)
    try:
        live = registry.for_mode(True)
        assert registry.for_mode(False).name == "simulator"
        assert isinstance(live, ResilientProcessor)
        assert isinstance(live.inner, AuthorizeNetConnector)
        assert live.inner.url == LOCAL
        assert live.breaker is not registry.for_mode(False).breaker
        assert live.breaker.fail_max == settings.processor.breaker_fail_max
        assert await registry.breaker_state() is BreakerState.CLOSED
        assert not live.inner.closed
    finally:
        await registry.aclose()
    # Its pool is closed with the registry (the process's other resources close it).
    assert live.inner.closed


def test_a_test_run_never_builds_a_connector_to_a_public_host(
    database_url: str,
    test_redis_url: str,
    simulator: Simulator,
    redis_client: Redis,
    clock: FrozenClock,
) -> None:
    settings = make_settings(database_url, test_redis_url, CONNECTOR)  # sandbox: public
    with pytest.raises(SettingsError, match="loopback"):
        processor_registry(settings, simulator, redis_client, clock)
