"""`gateway healthcheck`: what a container's HEALTHCHECK runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result
from redis import Redis
from rq import Worker
from rq.cron import CronScheduler

from gateway.cli import main
from tests.fixtures.app import flush_test_redis
from tests.support import closed_port


@pytest.fixture
def sync_redis(test_redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(test_redis_url)
    flush_test_redis(client)
    yield client
    flush_test_redis(client)
    client.close()


async def healthcheck(test_redis_url: str, *arguments: str, **env: str) -> Result:
    environment = {"GATEWAY_ENV": "test", "REDIS_URL": test_redis_url, **env}
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["healthcheck", *arguments], env=environment
    )


async def test_a_registered_live_worker_of_this_host_is_healthy(
    sync_redis: Redis, test_redis_url: str
) -> None:
    assert (await healthcheck(test_redis_url, "worker")).exit_code == 1
    worker = Worker(["maintenance"], connection=sync_redis)
    worker.register_birth()
    assert (await healthcheck(test_redis_url, "worker")).exit_code == 0
    worker.register_death()
    assert (await healthcheck(test_redis_url, "worker")).exit_code == 1


async def test_a_registered_live_cron_of_this_host_is_healthy(
    sync_redis: Redis, test_redis_url: str
) -> None:
    assert (await healthcheck(test_redis_url, "cron")).exit_code == 1
    scheduler = CronScheduler(connection=sync_redis)
    scheduler.register_birth()
    assert (await healthcheck(test_redis_url, "cron")).exit_code == 0
    scheduler.register_death()
    assert (await healthcheck(test_redis_url, "cron")).exit_code == 1


async def test_an_api_that_does_not_answer_is_unhealthy(test_redis_url: str) -> None:
    result = await healthcheck(test_redis_url, "api", GATEWAY_PORT=str(closed_port()))
    assert result.exit_code == 1
    assert "api does not answer" in result.output
