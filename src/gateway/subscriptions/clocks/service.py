"""Test clocks (API.md "Test clocks"): a merchant's simulated time, test keys only.

A subscription created with `test_clock_id` takes the clock's time as its "now"
for everything (its dates, its charges, its changes); the wall-clock billing
never touches it, and only advancing the clock (`advance.py`) moves it on.
Refused on live keys (403) and when GATEWAY_ENV=production (403).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.service import Actor
from gateway.core.clock import Clock, FrozenClock
from gateway.core.errors import Forbidden, NotFound, ValidationFailed
from gateway.core.ids import new_id
from gateway.core.tenancy import Owner
from gateway.subscriptions.billing.schedule import utc
from gateway.subscriptions.clocks.repository import TestClockRepository
from gateway.subscriptions.clocks.time_of import time_of
from gateway.subscriptions.lifecycle import SubscriptionChanges
from gateway.subscriptions.models import TestClock

MAX_SUBSCRIPTIONS: Final = 100
READY: Final = "ready"


class TestClockService:
    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, session: AsyncSession, clock: Clock, *, production: bool) -> None:
        self.session = session
        self.clock = clock  # the wall clock: when a clock row was made or changed
        self.production = production
        self.clocks = TestClockRepository(session)

    def allow(self, owner: Owner) -> None:
        if self.production:
            raise Forbidden("Test clocks are not available when GATEWAY_ENV=production.")
        if owner.livemode:
            raise Forbidden("Test clocks are for test keys only.")

    async def create(self, owner: Owner, frozen_time: datetime) -> TestClock:
        self.allow(owner)
        now = self.clock.now()
        clock = TestClock(
            id=new_id("clock"),
            merchant_id=owner.merchant_id,
            frozen_time=utc(frozen_time),
            status=READY,
            created_at=now,
            updated_at=now,
        )
        await self.clocks.add(clock)
        return clock

    async def get(self, owner: Owner, clock_id: str, *, for_update: bool = False) -> TestClock:
        self.allow(owner)
        found = await self.clocks.get(
            clock_id, merchant_id=owner.merchant_id, for_update=for_update
        )
        if found is None:
            raise NotFound(f"No test clock {clock_id}.")
        return found

    async def lock(self, owner: Owner | None, clock_id: str) -> TestClock:
        """The clock, locked: an advance, a deletion and a new subscription on it wait
        for each other. `owner` None: any merchant's (the operator's command)."""
        if owner is not None:
            return await self.get(owner, clock_id, for_update=True)
        if self.production:
            self.allow(Owner("", livemode=False))
        found = await self.clocks.get(clock_id, merchant_id=None, for_update=True)
        if found is None:
            raise NotFound(f"No test clock {clock_id}.")
        return found

    async def for_new_subscription(self, owner: Owner, clock_id: str) -> FrozenClock:
        """The time a new subscription on this clock starts from; at most
        MAX_SUBSCRIPTIONS live on one clock (400 beyond)."""
        clock = await self.get(owner, clock_id, for_update=True)
        if await self.clocks.subscription_count(clock.id) >= MAX_SUBSCRIPTIONS:
            raise ValidationFailed.for_field(
                "test_clock_id", f"a test clock holds at most {MAX_SUBSCRIPTIONS} subscriptions"
            )
        return time_of(clock)

    def move_to(self, clock: TestClock, frozen_time: datetime) -> None:
        clock.frozen_time = frozen_time
        clock.updated_at = self.clock.now()

    async def delete(
        self, owner: Owner, clock_id: str, actor: Actor, changes: SubscriptionChanges
    ) -> list[str]:
        """Cancel the clock's subscriptions now (at its time, as DELETE
        /subscriptions/{id} would) and hide the clock; the ids canceled."""
        clock = await self.get(owner, clock_id, for_update=True)
        canceled = list(await self.clocks.live_subscriptions(clock.id))
        for subscription_id in canceled:
            await changes.cancel(owner, subscription_id, at_period_end=False, actor=actor)
        clock.deleted_at = clock.updated_at = self.clock.now()
        await self.session.flush()
        return canceled
