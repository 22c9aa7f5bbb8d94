"""The processors a process uses, and the registry that picks one by mode and setting.

Test keys always get the simulator. Live keys get the kind GATEWAY_PROCESSOR
names, built by `LIVE_PROCESSORS`: the single place a new kind is added. Every
processor comes behind its circuit breaker (shared through Redis) and safe
retries. A live processor that holds connections (the Authorize.Net
connector's pool) is closed with the registry, which its process closes.

Production fails closed: the simulator moves no money, so a production deployment
on it runs test keys only and refuses live keys (403) rather than pretend to charge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.core.clock import Clock, SystemClock
from gateway.core.processor_settings import ProcessorName
from gateway.core.settings import Settings
from gateway.processors.authorize_net.connector import AuthorizeNetConnector
from gateway.processors.breaker import CircuitBreaker
from gateway.processors.metered import MeteredProcessor
from gateway.processors.port import Processor
from gateway.processors.registry import LIVE_MODE_DISABLED, ProcessorRegistry, ProcessorsAt
from gateway.processors.resilient import ResilientProcessor
from gateway.processors.simulator import Simulator


@dataclass(frozen=True)
class ProcessorParts:
    """What building a live processor may draw on."""

    settings: Settings
    simulator: Simulator
    redis: Redis
    clock: Clock
    # What the registry closes when its process ends (a connector's pool).
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


# Builds the live processor of one kind; None leaves live payments unavailable.
LiveProcessor = Callable[[ProcessorParts], Processor | None]


def _simulator(parts: ProcessorParts) -> Processor:
    return parts.simulator


def authorize_net(settings: Settings, *, clock: Clock) -> AuthorizeNetConnector:
    """The connector to the configured account, with a connection pool of its
    own: its owner closes it (`aclose`). Refused at once (SettingsError) when a
    test run's environment is not on the loopback interface."""
    return AuthorizeNetConnector.from_settings(settings, clock=clock)


def _authorize_net(parts: ProcessorParts) -> Processor:
    connector = authorize_net(parts.settings, clock=parts.clock)
    parts.closers.append(connector.aclose)
    return connector


# One entry per GATEWAY_PROCESSOR value (a test checks none is missing).
LIVE_PROCESSORS: Final[Mapping[ProcessorName, LiveProcessor]] = {
    "simulator": _simulator,
    "authorize_net": _authorize_net,
}


def simulator(settings: Settings, *, engine: AsyncEngine, redis: Redis, clock: Clock) -> Simulator:
    """The simulator commits its ledger on `engine`'s connections, never on a
    caller's session: give it an engine of its own."""
    return Simulator.from_settings(settings, engine=engine, redis=redis, clock=clock)


def resilient(
    processor: Processor, settings: Settings, redis: Redis, clock: Clock
) -> ResilientProcessor:
    """A processor behind its breaker (shared through Redis) and safe retries,
    its calls timed and its money movements counted (processors/metered.py)."""
    config = settings.processor
    breaker = CircuitBreaker(
        processor.name,
        redis,
        clock,
        fail_max=config.breaker_fail_max,
        reset_s=config.breaker_reset_s,
        # The longest a trial call can take; past it, its caller is gone.
        trial_timeout_s=config.processor_connect_timeout_s
        + config.processor_read_timeout_s
        + config.processor_retry_deadline_s,
    )
    return MeteredProcessor(
        processor, breaker, deadline_s=settings.processor.processor_retry_deadline_s
    )


def live_mode_enabled(settings: Settings) -> bool:
    """Whether live keys may be served: never on the simulator in production."""
    return not (settings.is_production and settings.processor.processor == "simulator")


def live_mode_notice(settings: Settings) -> str | None:
    """The start-up line of a deployment that refuses live keys; None otherwise."""
    if live_mode_enabled(settings):
        return None
    return f"{LIVE_MODE_DISABLED}: GATEWAY_PROCESSOR=simulator in production, live keys get 403"


def processor_registry(
    settings: Settings,
    simulator: Simulator,
    redis: Redis,
    clock: Clock,
    *,
    builders: Mapping[ProcessorName, LiveProcessor] = LIVE_PROCESSORS,
) -> ProcessorRegistry:
    """Test keys: the simulator. Live keys: the kind GATEWAY_PROCESSOR names, built
    by `builders` (tests give a stand-in for a kind not built here)."""
    test = resilient(simulator, settings, redis, clock)
    if not live_mode_enabled(settings):
        return ProcessorRegistry(test=test, live=None, live_enabled=False)
    parts = ProcessorParts(settings=settings, simulator=simulator, redis=redis, clock=clock)
    live_processor = builders[settings.processor.processor](parts)
    if live_processor is None:
        live = None
    elif live_processor is simulator:
        live = test  # one processor, one breaker, whichever mode calls it
    else:
        live = resilient(live_processor, settings, redis, clock)
    return ProcessorRegistry(test=test, live=live, closers=parts.closers)


def processors_at(settings: Settings, *, engine: AsyncEngine, redis: Redis) -> ProcessorsAt:
    """The simulator on a test clock's time (its ledger's dates are the clock's).
    The breaker keeps the wall clock: its state is shared with every process."""

    def build(clock: Clock) -> ProcessorRegistry:
        at = simulator(settings, engine=engine, redis=redis, clock=clock)
        return ProcessorRegistry(test=resilient(at, settings, redis, SystemClock()), live=None)

    return build
