"""The long-lived clients a process holds: database engine, sessions, Redis, clock."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.core.clock import Clock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import create_engine, create_session_factory
from gateway.core.faults import FaultPoints
from gateway.core.redis import create_redis
from gateway.core.relay_nudge import RelayNudge
from gateway.core.settings import Settings
from gateway.processors.breaker import CircuitBreaker
from gateway.processors.port import Processor
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.resilient import ResilientProcessor
from gateway.processors.simulator import Simulator


class MissingServerError(RuntimeError):
    """A database or Redis URL, or a secret, is needed but none was given or made."""


@dataclass
class Resources:
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis
    clock: Clock
    crypto: FieldCrypto
    processors: ProcessorRegistry
    # Engines the processors own (the simulator commits on its own connections).
    processor_engines: tuple[AsyncEngine, ...] = ()
    owned: bool = True
    # Chaos testing only (GATEWAY_FAULT_INJECTION); none by default.
    faults: FaultPoints = field(default_factory=FaultPoints.none)
    # Nudges the outbox relay after money requests; None: cron alone relays.
    relay: RelayNudge | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Resources:
        if settings.database.url is None or settings.redis.url is None:
            raise MissingServerError(
                "DATABASE_URL and REDIS_URL must be set, or the embedded servers started first"
            )
        engine = create_engine(settings.database, url=settings.database.url)
        simulator_engine = create_engine(settings.database, url=settings.database.url)
        redis = create_redis(settings.redis, url=settings.redis.url)
        clock = clock or SystemClock()
        simulator = Simulator.from_settings(
            settings, engine=simulator_engine, redis=redis, clock=clock
        )
        return cls(
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=redis,
            clock=clock,
            crypto=field_crypto(settings),
            processors=live_and_test_processors(settings, simulator, redis, clock),
            processor_engines=(simulator_engine,),
            faults=FaultPoints.parse(settings.core.fault_injection),
            relay=relay_nudge(settings),
        )

    async def aclose(self) -> None:
        """Release what this object created; borrowed resources stay open."""
        if not self.owned:
            return
        if self.relay is not None:
            self.relay.close()
        await self.redis.aclose()
        await self.engine.dispose()
        for engine in self.processor_engines:
            await engine.dispose()


def relay_nudge(settings: Settings) -> RelayNudge | None:
    """The process's one pool for nudging the relay (built once, used by every request)."""
    url = settings.redis.url
    return None if url is None else RelayNudge.from_url(url)


def field_crypto(settings: Settings) -> FieldCrypto:
    """The key ring and HMAC keys; development secrets must have been filled in."""
    secrets = settings.secrets
    if not (secrets.encryption_keys and secrets.fingerprint_key and secrets.blind_index_key):
        raise MissingServerError("encryption and HMAC keys are not set (see .env.example)")
    return FieldCrypto.from_settings(
        encryption_keys=secrets.encryption_keys,
        fingerprint_key=secrets.fingerprint_key,
        blind_index_key=secrets.blind_index_key,
    )


def resilient(
    processor: Processor, settings: Settings, redis: Redis, clock: Clock
) -> ResilientProcessor:
    """A processor behind its breaker (shared through Redis) and safe retries."""
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
    return ResilientProcessor(
        processor, breaker, deadline_s=settings.processor.processor_retry_deadline_s
    )


def live_and_test_processors(
    settings: Settings, simulator: Simulator, redis: Redis, clock: Clock
) -> ProcessorRegistry:
    """Test keys: the simulator. Live keys: GATEWAY_PROCESSOR; the Authorize.Net
    connector is not built yet, so it leaves live payments unavailable."""
    test = resilient(simulator, settings, redis, clock)
    live = test if settings.processor.processor == "simulator" else None
    return ProcessorRegistry(test=test, live=live)
