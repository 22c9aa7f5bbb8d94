"""The long-lived clients a process holds: database engine, sessions, Redis, clock."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.core.clock import Clock, SystemClock
from gateway.core.crypto import FieldCrypto
from gateway.core.db import create_engine, create_session_factory
from gateway.core.redis import create_redis
from gateway.core.settings import Settings


class MissingServerError(RuntimeError):
    """A database or Redis URL, or a secret, is needed but none was given or made."""


@dataclass
class Resources:
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    redis: Redis
    clock: Clock
    crypto: FieldCrypto
    owned: bool = True

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Resources:
        if settings.database.url is None or settings.redis.url is None:
            raise MissingServerError(
                "DATABASE_URL and REDIS_URL must be set, or the embedded servers started first"
            )
        engine = create_engine(settings.database, url=settings.database.url)
        return cls(
            engine=engine,
            session_factory=create_session_factory(engine),
            redis=create_redis(settings.redis, url=settings.redis.url),
            clock=clock or SystemClock(),
            crypto=field_crypto(settings),
        )

    async def aclose(self) -> None:
        """Release what this object created; borrowed resources stay open."""
        if not self.owned:
            return
        await self.redis.aclose()
        await self.engine.dispose()


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
