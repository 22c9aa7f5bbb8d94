"""Endpoints and deliveries written straight to the database (as the API and the
fan-out would), a local receiver, and the delivery worker with the test's clock,
settings and renderer, on real commits; delivery rows for the API's tests; the
payments and subscriptions flows that make the history events the fan-out
turns into deliveries (relaying.py)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.core.settings import Settings
from gateway.webhooks.outbound.destinations import Resolver, system_resolver
from gateway.webhooks.outbound.models import (
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)
from gateway.webhooks.outbound.sealing import seal_secrets
from gateway.webhooks.outbound.sender import delivery_client
from gateway.webhooks.outbound.signing import SigningSecrets, new_secret
from gateway.webhooks.outbound.worker import DeliveryWorker
from tests.payments.conftest import sweeps  # noqa: F401 - a fixture
from tests.subscriptions.conftest import (  # noqa: F401 - fixtures
    api,
    billing,
    clocks,
    subscriptions_key,
)
from tests.webhooks.outbound.receiver import Receiver, running_receiver
from tests.webhooks.outbound.relaying import outbound  # noqa: F401 - a fixture


async def render_envelope(session: AsyncSession, delivery: WebhookDelivery) -> bytes:
    """The envelope of API.md with only the object's id: what is rendered is the
    `events` side's business, not the worker's."""
    return json.dumps(
        {
            "id": delivery.event_id,
            "type": delivery.event_type,
            "created_at": delivery.created_at.isoformat(),
            "livemode": delivery.livemode,
            "sequence": delivery.sequence,
            "data": {"object": {"id": delivery.object_id}},
        }
    ).encode()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


@pytest.fixture
def wall_clock() -> FrozenClock:
    # standardwebhooks refuses a timestamp five minutes away from its own clock.
    return FrozenClock(datetime.now(UTC))


@dataclass
class Deliveries:
    sessions: async_sessionmaker[AsyncSession]
    crypto: FieldCrypto
    clock: FrozenClock
    settings: Settings

    async def endpoint(
        self, url: str, *, secrets: SigningSecrets | None = None, disabled: bool = False
    ) -> tuple[WebhookEndpoint, SigningSecrets]:
        secrets = secrets or SigningSecrets(current=new_secret())
        now = self.clock.now()
        endpoint = WebhookEndpoint(
            id=new_id("wep"), merchant_id=new_id("mer"), livemode=False, url=url,
            events=["*"], description=None, disabled=disabled, created_at=now, updated_at=now,
        )  # fmt: skip
        seal_secrets(self.crypto, endpoint, secrets)
        async with self.sessions() as session:
            session.add(endpoint)
            await session.commit()
        return endpoint, secrets

    async def delivery(
        self, endpoint: WebhookEndpoint, *, event_type: str = "payment.captured"
    ) -> WebhookDelivery:
        now = self.clock.now()
        delivery = WebhookDelivery(
            id=new_id("whd"), merchant_id=endpoint.merchant_id, livemode=False,
            endpoint_id=endpoint.id, event_id=new_id("evt"), event_type=event_type,
            object_type="transaction", object_id=new_id("txn"), sequence=1, status="pending",
            attempts=0, next_attempt_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        async with self.sessions() as session:
            session.add(delivery)
            await session.commit()
        return delivery

    async def get(self, delivery_id: str) -> WebhookDelivery:
        async with self.sessions() as session:
            found = await session.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found

    async def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint:
        async with self.sessions() as session:
            found = await session.get(WebhookEndpoint, endpoint_id)
        assert found is not None
        return found

    async def attempts_of(self, delivery_id: str) -> Sequence[WebhookDeliveryAttempt]:
        async with self.sessions() as session:
            return (
                await session.scalars(
                    select(WebhookDeliveryAttempt)
                    .where(WebhookDeliveryAttempt.delivery_id == delivery_id)
                    .order_by(WebhookDeliveryAttempt.attempt)
                )
            ).all()

    @contextlib.asynccontextmanager
    async def worker(
        self, *, production: bool = False, resolve: Resolver = system_resolver, **settings: Any
    ) -> AsyncIterator[DeliveryWorker]:
        """The worker, `settings` overriding WebhookSettings fields."""
        webhooks = msgspec.structs.replace(self.settings.webhooks, **settings)
        async with delivery_client(
            timeout_s=webhooks.webhook_delivery_timeout_s, resolve=resolve, production=production
        ) as client:
            yield DeliveryWorker(
                sessions=self.sessions,
                client=client,
                clock=self.clock,
                crypto=self.crypto,
                settings=webhooks,
                render=render_envelope,
                jitter=lambda: 0.0,
            )


@pytest.fixture
def deliveries(
    committed_engine: AsyncEngine,
    field_crypto: FieldCrypto,
    wall_clock: FrozenClock,
    settings: Settings,
) -> Deliveries:
    return Deliveries(
        sessions=async_sessionmaker(committed_engine, expire_on_commit=False),
        crypto=field_crypto,
        clock=wall_clock,
        settings=settings,
    )


DeliveryFactory = Callable[..., Awaitable[WebhookDelivery]]


def delivery_row(
    endpoint_id: str,
    merchant_id: str,
    *,
    livemode: bool = False,
    status: str = "pending",
    created_at: datetime,
    event_type: str = "payment.captured",
    attempts: int = 0,
    leased_until: datetime | None = None,
) -> WebhookDelivery:
    return WebhookDelivery(
        id=new_id("whd"), merchant_id=merchant_id, livemode=livemode, endpoint_id=endpoint_id,
        event_id=new_id("evt"), event_type=event_type, object_type="transaction",
        object_id=new_id("txn"), sequence=1, status=status, attempts=attempts,
        next_attempt_at=None if status in ("succeeded", "dead") else created_at,
        leased_until=leased_until, last_status_code=500 if status in ("failed", "dead") else None,
        last_error=None, created_at=created_at, updated_at=created_at,
        delivered_at=created_at if status == "succeeded" else None,
    )  # fmt: skip


@pytest.fixture
def add_delivery(db_session: AsyncSession, clock: FrozenClock) -> DeliveryFactory:
    """A committed delivery of an endpoint (the merchant and mode are the endpoint's)."""

    async def add(
        endpoint_id: str,
        merchant_id: str,
        *,
        created_at: datetime | None = None,
        **fields: object,
    ) -> WebhookDelivery:
        row = delivery_row(
            endpoint_id,
            merchant_id,
            created_at=created_at or clock.now(),
            **fields,  # type: ignore[arg-type]
        )
        db_session.add(row)
        await db_session.commit()
        return row

    return add
