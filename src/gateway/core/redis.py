"""The Redis client: queues, counters and breaker state (never money)."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.core.settings import RedisSettings


def create_redis(settings: RedisSettings, *, url: str) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.socket_timeout_s,
        health_check_interval=30,
    )
