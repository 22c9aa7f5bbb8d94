from __future__ import annotations

import httpx

from gateway.app import create_app
from tests.fixtures.app import make_settings
from tests.support import closed_port, http_client


async def test_live_answers_while_the_process_serves(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_health_is_ok_with_both_servers(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "processor": "closed"},
    }


async def test_database_down_is_503_unavailable(test_redis_url: str) -> None:
    down = f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/gateway"
    async with http_client(create_app(make_settings(down, test_redis_url))) as client:
        response = await client.get("/api/v1/health")
        live = await client.get("/api/v1/health/live")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"  # plain JSON, not a problem
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "down", "redis": "ok", "processor": "closed"},
    }
    assert live.status_code == 200


async def test_redis_down_is_200_degraded(database_url: str) -> None:
    down = f"redis://127.0.0.1:{closed_port()}/0"
    async with http_client(create_app(make_settings(database_url, down))) as client:
        response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "redis": "down", "processor": "closed"},
    }
