"""The circuit breaker and safe retries (issue: processor resilience, points 1 and 2)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import structlog
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.core.clock import FrozenClock
from gateway.processors.breaker import BreakerState, CircuitBreaker, ProcessorUnavailable
from gateway.processors.port import NotSentError, Outcome, OutcomeUnknownError
from gateway.processors.resilient import ResilientProcessor
from gateway.processors.simulator import Simulator
from gateway.processors.simulator.models import SimulatorRequest
from tests.processors import REASON_CARD, charge
from tests.support import closed_port

FAIL_MAX = 3
RESET_S = 30


def breaker(redis: Redis, clock: FrozenClock) -> CircuitBreaker:
    return CircuitBreaker("simulator", redis, clock, fail_max=FAIL_MAX, reset_s=RESET_S)


async def open_it(target: CircuitBreaker) -> None:
    for _ in range(FAIL_MAX):
        await target.record_failure()


async def test_it_opens_after_fail_max_consecutive_failures(
    redis_client: Redis, clock: FrozenClock
) -> None:
    target = breaker(redis_client, clock)
    for _ in range(FAIL_MAX - 1):
        await target.record_failure()
    await target.admit()
    await target.record_success()  # consecutive failures only
    for _ in range(FAIL_MAX - 1):
        await target.record_failure()
    assert await target.state() is BreakerState.CLOSED
    await target.record_failure()
    assert await target.state() is BreakerState.OPEN
    with pytest.raises(ProcessorUnavailable) as refused:
        await target.admit()
    assert refused.value.retry_after == RESET_S


async def test_a_success_resets_the_count_its_admission_saw_and_a_clean_one_costs_nothing(
    redis_client: Redis, clock: FrozenClock
) -> None:
    target = breaker(redis_client, clock)
    clean = await target.admit()
    assert clean.clean, "closed with no failure counted"
    await target.record_failure()
    counted = await target.admit()
    assert not counted.clean
    await target.record_success(counted)
    assert await redis_client.hget("gateway:breaker:simulator", "failures") == b"0"
    # A clean permit's success sends nothing: the count another call left stands
    # (until the next success whose admission saw it, or the threshold).
    clean = await target.admit()
    await target.record_failure()
    await target.record_success(clean)
    assert await redis_client.hget("gateway:breaker:simulator", "failures") == b"1"
    await target.record_success(await target.admit())
    assert await redis_client.hget("gateway:breaker:simulator", "failures") == b"0"


async def test_half_open_lets_one_trial_through_and_its_success_closes(
    redis_client: Redis, clock: FrozenClock
) -> None:
    target = breaker(redis_client, clock)
    await open_it(target)
    clock.advance(timedelta(seconds=RESET_S))
    assert await target.state() is BreakerState.HALF_OPEN
    await target.admit()  # the trial
    with pytest.raises(ProcessorUnavailable):
        await target.admit()  # only one
    await target.record_success()
    assert await target.state() is BreakerState.CLOSED
    await target.admit()


async def test_a_failed_trial_opens_it_again(redis_client: Redis, clock: FrozenClock) -> None:
    target = breaker(redis_client, clock)
    await open_it(target)
    clock.advance(timedelta(seconds=RESET_S))
    await target.admit()
    await target.record_failure()
    assert await target.state() is BreakerState.OPEN
    with pytest.raises(ProcessorUnavailable) as refused:
        await target.admit()
    assert refused.value.retry_after == RESET_S


async def test_every_process_shares_one_breaker_through_redis(
    redis_client: Redis, clock: FrozenClock
) -> None:
    api, worker = breaker(redis_client, clock), breaker(redis_client, clock)
    await open_it(api)
    with pytest.raises(ProcessorUnavailable):
        await worker.admit()
    clock.advance(timedelta(seconds=RESET_S))
    await worker.admit()
    await worker.record_success()
    await api.admit()


async def test_without_redis_it_still_counts_and_opens_locally(clock: FrozenClock) -> None:
    unreachable = Redis.from_url(
        f"redis://127.0.0.1:{closed_port()}", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    target = breaker(unreachable, clock)
    await open_it(target)
    assert await target.state() is BreakerState.OPEN
    with pytest.raises(ProcessorUnavailable):
        await target.admit()
    clock.advance(timedelta(seconds=RESET_S))
    await target.admit()
    await target.record_success()
    assert await target.state() is BreakerState.CLOSED
    await unreachable.aclose()


def resilient_simulator(
    simulator: Simulator, redis: Redis, clock: FrozenClock
) -> ResilientProcessor:
    return ResilientProcessor(simulator, breaker(redis, clock), deadline_s=0.2)


async def test_declines_never_count(
    simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    processor = resilient_simulator(simulator, redis_client, clock)
    for _ in range(FAIL_MAX + 2):
        result = await processor.purchase(charge(200, number=REASON_CARD))
        assert result.outcome is Outcome.DECLINED
    assert await processor.state() is BreakerState.CLOSED


async def test_not_sent_is_retried_until_the_deadline_then_counts_once(
    simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    processor = resilient_simulator(simulator, redis_client, clock)
    await simulator.outage.turn(on=True)
    attempts = 0
    inner = simulator.purchase

    async def counted(request: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return await inner(request)

    simulator.purchase = counted  # type: ignore[method-assign]
    with pytest.raises(NotSentError):
        await processor.purchase(charge(1500))
    assert attempts > 1, "a request that never left is safe to send again"
    assert await redis_client.hget("gateway:breaker:simulator", "failures") == b"1"


async def test_a_read_timeout_is_never_retried(
    simulator: Simulator, redis_client: Redis, clock: FrozenClock, committed_engine: AsyncEngine
) -> None:
    processor = resilient_simulator(simulator, redis_client, clock)
    with pytest.raises(OutcomeUnknownError):
        await processor.purchase(charge(90100, number=REASON_CARD, ref="txn-timeout"))
    async with AsyncSession(committed_engine) as session:
        sent = await session.scalar(
            select(func.count())
            .select_from(SimulatorRequest)
            .where(SimulatorRequest.reference == "txn-timeout")
        )
    assert sent == 1


async def test_lookups_are_retried(
    simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    processor = resilient_simulator(simulator, redis_client, clock)
    calls = 0
    inner = simulator.find_by_reference

    async def flaky(reference: str) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OutcomeUnknownError("read timeout")
        return await inner(reference)

    simulator.find_by_reference = flaky  # type: ignore[method-assign]
    assert await processor.find_by_reference("txn_nothing") is None
    assert calls == 2


# -- issue 16 point 3: a breaker that cannot stick ---------------------------------

TRIAL_TIMEOUT_S = 5


def breaker_with_trial_timeout(redis: Redis, clock: FrozenClock) -> CircuitBreaker:
    return CircuitBreaker(
        "simulator",
        redis,
        clock,
        fail_max=FAIL_MAX,
        reset_s=RESET_S,
        trial_timeout_s=TRIAL_TIMEOUT_S,
    )


async def _a_trial_never_resolved_frees_its_slot(
    target: CircuitBreaker, clock: FrozenClock
) -> None:
    await open_it(target)
    clock.advance(timedelta(seconds=RESET_S))
    trial = await target.admit()
    assert trial.trial, "the first caller after the reset tests the processor"
    # Its caller dies (or gives up before the call): nothing ever reports.
    with pytest.raises(ProcessorUnavailable) as refused:
        await target.admit()
    assert refused.value.retry_after == TRIAL_TIMEOUT_S
    clock.advance(timedelta(seconds=TRIAL_TIMEOUT_S))
    assert (await target.admit()).trial, "past its timeout the next caller is the trial"
    await target.record_success()
    assert await target.state() is BreakerState.CLOSED
    assert not (await target.admit()).trial


async def test_a_half_open_trial_never_resolved_frees_its_slot_after_its_timeout(
    redis_client: Redis, clock: FrozenClock
) -> None:
    await _a_trial_never_resolved_frees_its_slot(
        breaker_with_trial_timeout(redis_client, clock), clock
    )


async def test_without_redis_an_unresolved_trial_frees_its_slot_too(clock: FrozenClock) -> None:
    unreachable = Redis.from_url(
        f"redis://127.0.0.1:{closed_port()}", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    await _a_trial_never_resolved_frees_its_slot(
        breaker_with_trial_timeout(unreachable, clock), clock
    )
    await unreachable.aclose()


async def test_opened_is_logged_once_per_opening(redis_client: Redis, clock: FrozenClock) -> None:
    target = breaker(redis_client, clock)
    with structlog.testing.capture_logs() as logs:
        for _ in range(FAIL_MAX + 3):  # late failures of calls admitted before it opened
            await target.record_failure()
        clock.advance(timedelta(seconds=RESET_S))
        await target.admit()
        await target.record_failure()  # the trial failed: a second opening
    opened = [entry for entry in logs if entry["event"] == "breaker.opened"]
    assert len(opened) == 2


class _CountingProcessor:
    """The simulator, counting the calls that reach it."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.name = simulator.name
        self.purchases = 0

    async def purchase(self, request: Any) -> Any:
        self.purchases += 1
        await asyncio.sleep(0.05)  # the trial is still in flight when the others ask
        return await self.simulator.purchase(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.simulator, name)


async def test_background_callers_obey_the_single_trial_rule(
    simulator: Simulator, redis_client: Redis, clock: FrozenClock
) -> None:
    counting = _CountingProcessor(simulator)
    workers = [
        ResilientProcessor(counting, breaker(redis_client, clock), deadline_s=0.2) for _ in range(5)
    ]
    await open_it(workers[0].breaker)
    clock.advance(timedelta(seconds=RESET_S))
    results = await asyncio.gather(
        *(worker.purchase(charge(1500)) for worker in workers), return_exceptions=True
    )
    assert counting.purchases == 1, "one trial reaches the processor, not five"
    refused = [result for result in results if isinstance(result, NotSentError)]
    assert len(refused) == 4
    assert await workers[0].state() is BreakerState.CLOSED, "the trial succeeded"
