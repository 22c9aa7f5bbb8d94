"""The composition root's processor selection: test keys always the simulator,
live keys the kind GATEWAY_PROCESSOR names, each behind its breaker."""

from __future__ import annotations

from typing import get_args

import pytest
from redis.asyncio import Redis

from gateway.composition.processors import LIVE_PROCESSORS, processor_registry
from gateway.core.clock import FrozenClock
from gateway.core.settings import ProcessorName, Settings
from gateway.processors.breaker import ProcessorUnavailable
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


def test_live_keys_are_unavailable_until_the_connector_is_built(
    database_url: str,
    test_redis_url: str,
    simulator: Simulator,
    redis_client: Redis,
    clock: FrozenClock,
) -> None:
    settings = make_settings(
        database_url,
        test_redis_url,
        {
            "GATEWAY_PROCESSOR": "authorize_net",
            "GATEWAY_AUTHORIZE_NET_LOGIN_ID": "login",
            "GATEWAY_AUTHORIZE_NET_TRANSACTION_KEY": "key",
        },
    )
    registry = processor_registry(settings, simulator, redis_client, clock)
    assert registry.for_mode(False).name == "simulator"
    with pytest.raises(ProcessorUnavailable):
        registry.for_mode(True)
