"""POST/GET/DELETE /test-clocks and POST /test-clocks/{id}/advance (test keys only)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.openapi import api_responses
from gateway.core.settings import Settings
from gateway.merchants.auth import api_actor
from gateway.merchants.principal import Principal
from gateway.subscriptions.clocks.advance import ClockAdvance
from gateway.subscriptions.clocks.service import TestClockService
from gateway.subscriptions.lifecycle import SubscriptionChanges
from gateway.subscriptions.models import TestClock
from gateway.subscriptions.routes import READ, WRITE
from gateway.subscriptions.schemas import NewTestClock, TestClockAdvance, TestClockOut


def clock_out(clock: TestClock) -> TestClockOut:
    return TestClockOut(
        id=clock.id, frozen_time=clock.frozen_time, status=clock.status, created_at=clock.created_at
    )


def provide_test_clocks(
    db_session: NamedDependency[AsyncSession], request: Request[Any, Any, Any]
) -> TestClockService:
    settings: Settings = request.app.state.settings
    resources: Resources = request.app.state.resources
    return TestClockService(db_session, resources.clock, production=settings.is_production)


def provide_clock_advance(request: Request[Any, Any, Any]) -> ClockAdvance:
    settings: Settings = request.app.state.settings
    resources: Resources = request.app.state.resources
    return ClockAdvance(
        resources.session_factory,
        wall=resources.clock,
        processors=resources.processors_at,
        crypto=resources.crypto,
        settings=settings,
    )


class TestClockController(Controller):
    __test__ = False  # not a pytest class, whatever its name

    path = "/api/v1/test-clocks"
    tags = ["Test clocks"]  # noqa: RUF012 - Litestar reads this class attribute
    dependencies = {  # noqa: RUF012 - Litestar reads this class attribute
        "test_clocks": Provide(provide_test_clocks, sync_to_thread=False),
        "clock_advance": Provide(provide_clock_advance, sync_to_thread=False),
    }

    @post(
        "/",
        opt=WRITE,
        summary="Create a test clock (test keys only)",
        responses=api_responses(body=True),
    )
    async def create(
        self,
        data: JSONBody[NewTestClock],
        principal: NamedDependency[Principal],
        test_clocks: NamedDependency[TestClockService],
    ) -> TestClockOut:
        return clock_out(await test_clocks.create(principal.owner, data.frozen_time))

    @get(
        "/{clock_id:str}",
        opt=READ,
        summary="One test clock",
        responses=api_responses(takes_id=True),
    )
    async def get_one(
        self,
        clock_id: FromPath[str],
        principal: NamedDependency[Principal],
        test_clocks: NamedDependency[TestClockService],
    ) -> TestClockOut:
        return clock_out(await test_clocks.get(principal.owner, clock_id))

    @post(
        "/{clock_id:str}/advance",
        opt=WRITE,
        status_code=200,
        summary="Advance a test clock",
        description="Answers once every renewal, retry, trial end and expiry due up to"
        " `frozen_time` has run, in time order.",
        responses=api_responses(takes_id=True, body=True),
    )
    async def advance(
        self,
        clock_id: FromPath[str],
        data: JSONBody[TestClockAdvance],
        principal: NamedDependency[Principal],
        clock_advance: NamedDependency[ClockAdvance],
    ) -> TestClockOut:
        advanced = await clock_advance.advance(principal.owner, clock_id, data.frozen_time)
        return clock_out(advanced.clock)

    @delete(
        "/{clock_id:str}", opt=WRITE, status_code=204, summary="Delete a test clock",
        description="Its subscriptions are canceled.",
        responses=api_responses(takes_id=True),
    )  # fmt: skip
    async def remove(
        self,
        clock_id: FromPath[str],
        principal: NamedDependency[Principal],
        test_clocks: NamedDependency[TestClockService],
        subscription_changes: NamedDependency[SubscriptionChanges],
        request: Request[Any, Any, Any],
    ) -> None:
        await test_clocks.delete(
            principal.owner, clock_id, api_actor(request), subscription_changes
        )
