"""DESIGN.md invariant 5 on real commits: however billing work is duplicated (jobs,
ticks, whole passes at once), a period gets one invoice and one charge.

Sessions here each take their own connection and really commit
(`committed_engine` truncates afterwards), and the duplicates run at once with
`asyncio.gather`; the simulator's own ledger shows what reached the processor.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.audit.service import Actor
from gateway.composition.process import lent_resources
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.processors.simulator import Simulator, SimulatorConfig
from gateway.processors.simulator.models import SimulatorRequest
from gateway.subscriptions.billing.passes import billing_pass
from gateway.subscriptions.billing.renewal import InvoiceCharger
from gateway.subscriptions.billing.tick import BillingTick
from gateway.subscriptions.models import Invoice, InvoiceAttempt, Subscription
from gateway.subscriptions.service import SubscriptionService
from tests.subscriptions.conftest import subscribe_committed

COPIES = 5


@dataclass(frozen=True)
class Race:
    resources: Resources
    settings: Settings
    clock: FrozenClock
    subscription_id: str

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.resources.session_factory

    def tick(self) -> BillingTick:
        return BillingTick(
            self.sessions,
            clock=self.clock,
            crypto=self.resources.crypto,
            billing=self.settings.billing,
        )

    def charger(self) -> InvoiceCharger:
        return InvoiceCharger(
            self.sessions,
            clock=self.clock,
            processors=self.resources.processors,
            crypto=self.resources.crypto,
            settings=self.settings,
        )

    async def count(self, model: type[Invoice] | type[InvoiceAttempt]) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)

    async def charges_at_processor(self) -> int:
        async with self.sessions() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(SimulatorRequest)
                .where(SimulatorRequest.operation == "purchase")
            )
        return int(found or 0)

    async def subscription(self) -> Subscription:
        async with self.sessions() as session:
            found = await session.get(Subscription, self.subscription_id)
            assert found is not None
            return found


@pytest.fixture
async def race(
    committed_engine: AsyncEngine,
    settings: Settings,
    redis_client: Redis,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    engine: AsyncEngine,
) -> Race:
    """A subscription whose first renewal is due, on committed sessions and a
    simulator that answers slowly enough for the duplicates to overlap."""
    sessions = async_sessionmaker(committed_engine, expire_on_commit=False)
    simulator = Simulator(engine, redis_client, clock, SimulatorConfig(latency_ms=150))
    resources = lent_resources(
        settings,
        engine=committed_engine,
        session_factory=sessions,
        redis=redis_client,
        clock=clock,
        crypto=field_crypto,
        simulator=simulator,
    )
    _, subscription_id = await subscribe_committed(resources, settings)
    clock.advance(timedelta(days=31))
    return Race(resources, settings, clock, subscription_id)


async def test_invariant_5_duplicated_charge_jobs_charge_the_invoice_once(race: Race) -> None:
    requested = (await race.tick().run()).requested
    assert len(requested) == 1

    outcomes = await asyncio.gather(*(race.charger().charge_all(requested) for _ in range(COPIES)))

    assert sum(summary.charged for summary in outcomes) == 1
    assert sum(summary.skipped for summary in outcomes) == COPIES - 1
    assert await race.count(InvoiceAttempt) == 2  # the first period's and this one
    assert await race.charges_at_processor() == 2
    assert (await race.subscription()).cycles_billed == 2


async def test_invariant_5_duplicated_ticks_open_one_invoice_per_period(race: Race) -> None:
    results = await asyncio.gather(*(race.tick().run() for _ in range(COPIES)))

    assert sum(len(result.requested) for result in results) == 1
    assert await race.count(Invoice) == 2


async def test_invariant_5_whole_passes_at_once_bill_each_period_once(race: Race) -> None:
    def one_pass() -> asyncio.Future[object]:
        return asyncio.ensure_future(
            billing_pass(
                race.sessions,
                clock=race.clock,
                processors=race.resources.processors,
                crypto=race.resources.crypto,
                settings=race.settings,
                ignore_backoff=True,
            )
        )

    await asyncio.gather(*(one_pass() for _ in range(COPIES)))
    race.clock.advance(timedelta(days=31))  # and the next period, the same way
    await asyncio.gather(*(one_pass() for _ in range(COPIES)))

    assert await race.count(Invoice) == 3
    assert await race.count(InvoiceAttempt) == 3
    assert await race.charges_at_processor() == 3
    assert (await race.subscription()).cycles_billed == 3


async def test_invariant_5_the_database_refuses_a_second_invoice_for_a_period(race: Race) -> None:
    subscription = await race.subscription()
    async with race.sessions() as session:
        service = SubscriptionService(session, race.clock, race.resources.crypto)
        duplicate = Invoice(
            id=new_id("inv"),
            merchant_id=subscription.merchant_id,
            livemode=False,
            subscription_id=subscription.id,
            period_start=subscription.current_period_start,  # billed at creation
            period_end=subscription.current_period_end,
            amount=1500,
            currency="USD",
            status="open",
        )
        assert await service.open_invoice(duplicate, Actor(kind="billing"), reason="again") is None
        await session.commit()
    assert await race.count(Invoice) == 1
