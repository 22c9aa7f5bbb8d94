"""Liveness and readiness (API.md "System")."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec
import structlog
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from sqlalchemy import text

from gateway.core.handles import BreakerState, ProcessHandles
from gateway.core.openapi import PublicOperation

_log = structlog.get_logger("gateway.health")

CheckState = Literal["ok", "down"]


class Liveness(msgspec.Struct):
    status: Literal["ok"]


class HealthChecks(msgspec.Struct):
    database: CheckState
    redis: CheckState
    processor: BreakerState  # information only: payments answer for themselves


class Health(msgspec.Struct):
    status: Literal["ok", "degraded", "unavailable"]
    checks: HealthChecks


async def database_state(resources: ProcessHandles, timeout_s: float) -> CheckState:
    try:
        async with asyncio.timeout(timeout_s), resources.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is logged
        _log.warning("health.database_down", error=type(exc).__name__)
        return "down"
    return "ok"


async def redis_state(resources: ProcessHandles, timeout_s: float) -> CheckState:
    try:
        async with asyncio.timeout(timeout_s):
            await resources.redis.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the reason is logged
        _log.warning("health.redis_down", error=type(exc).__name__)
        return "down"
    return "ok"


async def check_health(resources: ProcessHandles, timeout_s: float) -> Health:
    database, redis = await asyncio.gather(
        database_state(resources, timeout_s), redis_state(resources, timeout_s)
    )
    processor = BreakerState(await resources.processors.breaker_state())
    checks = HealthChecks(database=database, redis=redis, processor=processor)
    if database == "down":
        return Health(status="unavailable", checks=checks)
    if redis == "down":
        return Health(status="degraded", checks=checks)
    return Health(status="ok", checks=checks)


class HealthController(Controller):
    path = "/api/v1/health"
    tags = ["System"]  # noqa: RUF012 - Litestar reads this class attribute
    security = []  # noqa: RUF012 - no API key: probes call it

    @get(
        "/live",
        summary="Liveness: the process serves requests",
        operation_class=PublicOperation,
    )
    async def live(self) -> Liveness:
        return Liveness(status="ok")

    @get(
        "/",
        summary="Readiness: database and Redis reachable",
        operation_class=PublicOperation,
        description="503 when the database is down; 200 `degraded` when only Redis is down.",
        responses={
            503: ResponseSpec(
                data_container=Health,
                description="unavailable: the database is down (plain JSON, not a problem).",
                generate_examples=False,
            )
        },
    )
    async def health(self, state: State) -> Response[Health]:
        report = await check_health(state.resources, state.settings.http.health_timeout_s)
        status = 503 if report.status == "unavailable" else 200
        return Response(report, status_code=status)
