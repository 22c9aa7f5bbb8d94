"""What a process holds (engines, sessions, Redis, clock, crypto, processors) and
the only constructors of its engines and Redis clients."""

from __future__ import annotations

from dataclasses import dataclass, field

from limits.aio.storage import RedisStorage
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from gateway.core.clock import Clock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import ping_when_idle
from gateway.core.faults import FaultPoints
from gateway.core.rate_limits import RateLimiter
from gateway.core.redis import create_redis
from gateway.core.relay_nudge import RelayNudge
from gateway.core.settings import Settings
from gateway.processors.registry import ProcessorRegistry, ProcessorsAt
from gateway.webhooks.outbound.destinations import Resolver, system_resolver


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
    # The processors on another clock's time (a test clock's advance).
    processors_at: ProcessorsAt
    # Engines the processors own (the simulator commits on its own connections).
    processor_engines: tuple[AsyncEngine, ...] = ()
    owned: bool = True
    # Chaos testing only (GATEWAY_FAULT_INJECTION); none by default.
    faults: FaultPoints = field(default_factory=FaultPoints.none)
    # Nudges the outbox relay after money requests; None: cron alone relays.
    relay: RelayNudge | None = None
    # Resolves webhook endpoints' host names for the SSRF guard (tests inject one,
    # so production's refusals are shown without a lookup leaving the machine).
    resolver: Resolver = system_resolver
    # API.md "Rate limits", on `redis`'s connections; None: nothing is limited
    # (a command or a job serves no requests).
    rate_limiter: RateLimiter | None = None

    async def aclose(self) -> None:
        """Release what this object created; borrowed resources stay open."""
        await self.processors.aclose()  # always built here, never lent
        if not self.owned:
            return
        if self.relay is not None:
            self.relay.close()
        await self.redis.aclose()
        await self.engine.dispose()
        for engine in self.processor_engines:
            await engine.dispose()


def require_servers(settings: Settings) -> tuple[str, str]:
    """The database and Redis URLs, both of which a process needs."""
    if settings.database.url is None or settings.redis.url is None:
        raise MissingServerError(
            "DATABASE_URL and REDIS_URL must be set, or the embedded servers started first"
        )
    return settings.database.url, settings.redis.url


def database_engine(
    settings: Settings,
    *,
    pooled: bool,
    url: str | None = None,
    application_name: str = "gateway",
) -> AsyncEngine:
    """An engine on the deployment's database (or on `url`: the sandbox's own),
    with the deployment's timeouts and pool. Pooled for a long-lived loop (the
    API) or a block that opens many sessions (a job); not pooled for one short
    event loop (a command), where nothing may outlive it."""
    url = url or settings.database.url
    if url is None:
        raise MissingServerError("DATABASE_URL must be set, or the embedded server started first")
    database = settings.database
    connect_args = {
        "timeout": database.connect_timeout_s,
        "server_settings": {
            "application_name": application_name,
            "statement_timeout": str(database.statement_timeout_ms),
        },
    }
    if not pooled:
        return create_async_engine(url, poolclass=NullPool, connect_args=connect_args)
    engine = create_async_engine(
        url,
        pool_size=database.pool_size,
        max_overflow=database.max_overflow,
        connect_args=connect_args,
    )
    ping_when_idle(engine)
    return engine


def redis_client(settings: Settings) -> Redis:
    if settings.redis.url is None:
        raise MissingServerError("REDIS_URL must be set, or the embedded server started first")
    return create_redis(settings.redis, url=settings.redis.url)


def rate_limiter(redis: Redis) -> RateLimiter:
    """The limiter on the process's own Redis pool (no connections of its own)."""
    storage = RedisStorage(
        "async+redis://",
        implementation="redispy",
        # Typed narrowly by limits, yet passed on to redis.asyncio.Redis as is.
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]
        key_prefix="gateway:rate_limit",
        wrap_exceptions=True,
    )
    return RateLimiter(storage)


def relay_nudge(settings: Settings) -> RelayNudge | None:
    """The process's one pool for nudging the relay (built once, used by every
    request, off the event loop)."""
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
