"""The simulator's settled-batch report keeps Authorize.Net's limits (at most 31
days, aware times), and the resilient processor passes it through as a look-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from gateway.core.clock import FrozenClock
from gateway.core.settings import Settings
from gateway.processors.simulator import Simulator
from tests.fixtures.app import test_processors as resilient_processors
from tests.processors import charge


async def test_a_report_spans_at_most_31_days_of_aware_times(
    simulator: Simulator, clock: FrozenClock
) -> None:
    now = clock.now()
    assert await simulator.settled_transactions(now - timedelta(days=31), now) == []
    refused = [
        (now - timedelta(days=31, seconds=1), now),
        (now, now - timedelta(seconds=1)),
        (datetime(2026, 1, 1), now),  # noqa: DTZ001 - the naive time refused
    ]
    for first, last in refused:
        with pytest.raises(ValueError, match="settlement window"):
            await simulator.settled_transactions(first, last)


async def test_the_resilient_processor_reports_the_simulators_batches(
    simulator: Simulator, clock: FrozenClock, settings: Settings, redis_client: Redis
) -> None:
    purchased = await simulator.purchase(charge(1500))
    await simulator.settle(everything=True)
    processor = resilient_processors(simulator, settings, redis_client, clock).test
    window = (clock.now() - timedelta(hours=1), clock.now())

    assert processor.reports_settlement
    reported = await processor.settled_transactions(*window)
    assert reported == await simulator.settled_transactions(*window)
    assert [row.processor_transaction_id for row in reported] == [
        purchased.processor_transaction_id
    ]
    assert reported[0].settled_at == clock.now().astimezone(UTC)
