"""Jobs run as RQ runs them: a real worker on the test Redis, reading its settings
from the environment and committing to the test database for real."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.core.settings import Settings
from gateway.models import Base
from tests.fixtures.app import flush_test_redis
from tests.support import run_in_thread


def truncate_all(database_url: str) -> None:
    async def run() -> None:
        engine = create_async_engine(database_url, poolclass=NullPool)
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()

    run_in_thread(lambda: asyncio.run(run()))


@pytest.fixture
def job_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, test_redis_url: str, settings: Settings
) -> Iterator[Redis]:
    """The worker's environment; afterwards Redis is flushed and every table emptied."""
    secrets = settings.secrets
    assert secrets.encryption_keys
    assert secrets.fingerprint_key
    assert secrets.blind_index_key
    environment = {
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
        "GATEWAY_ENV": "test",
        # The jobs seal and open with the same keys as the rows the tests write.
        "GATEWAY_ENCRYPTION_KEYS": secrets.encryption_keys,
        "GATEWAY_FINGERPRINT_KEY": secrets.fingerprint_key,
        "GATEWAY_BLIND_INDEX_KEY": secrets.blind_index_key,
        # A served API in this environment (the end-to-end tests) is never limited.
        "GATEWAY_RATE_LIMIT_LIVE_PER_S": str(settings.rate_limits.rate_limit_live_per_s),
        "GATEWAY_RATE_LIMIT_TEST_PER_S": str(settings.rate_limits.rate_limit_test_per_s),
        "GATEWAY_RATE_LIMIT_FAILED_AUTH_PER_MIN": str(
            settings.rate_limits.rate_limit_failed_auth_per_min
        ),
        "GATEWAY_RATE_LIMIT_WEBHOOK_INVALID_PER_MIN": str(
            settings.rate_limits.rate_limit_webhook_invalid_per_min
        ),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    connection = Redis.from_url(test_redis_url)
    flush_test_redis(connection)
    yield connection
    flush_test_redis(connection)
    connection.close()
    truncate_all(database_url)
