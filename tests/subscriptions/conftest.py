"""Subscriptions from a client's side, and billing run as a pass of `gateway billing
run` would run it, on the test's sessions, frozen clock and simulator."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import Event
from gateway.audit.service import Actor
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.idempotency.commands import KeyedRequest
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.store import KeyScope
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.payments.reconciliation import ReconcileSummary, reconcile_pass
from gateway.processors.registry import ProcessorRegistry
from gateway.processors.simulator import Simulator, parse_script
from gateway.processors.simulator.models import SimulatorRequest
from gateway.subscriptions.billing.passes import BillingRun, billing_pass
from gateway.subscriptions.commands import SubscriptionCommands
from gateway.subscriptions.schemas import NewSubscription
from gateway.vault.commands import VaultCommands
from gateway.vault.schemas import CardIn, NewPaymentMethod
from gateway.vault.service import PaymentMethodService
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import VISA

ALL_SCOPES = (
    Scope.PAYMENTS_READ,
    Scope.PAYMENTS_WRITE,
    Scope.SUBSCRIPTIONS_READ,
    Scope.SUBSCRIPTIONS_WRITE,
)
# The simulator's card whose reason code is the amount in dollars (ANET.md §9).
TRIGGER_CARD = "4222222222222"

_keys = itertools.count(1)
# Where a test clock starts unless a test says otherwise.
START = "2026-03-01T10:00:00Z"


def new_subscription(payment_method: str, **changes: Any) -> dict[str, Any]:
    return {
        "customer": {"id": "cus_42", "email": "Ada@Example.org"},
        "amount": 1500,
        "currency": "USD",
        "interval": "month",
        "payment_method": {"token": payment_method},
        **changes,
    }


@dataclass
class Api:
    client: httpx.AsyncClient
    key: str

    def _headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def payment_method(
        self, number: str = VISA, *, key: str | None = None, exp_year: int = 2030
    ) -> str:
        response = await self.client.post(
            "/api/v1/payment-methods",
            json={
                "card": {"number": number, "exp_month": 12, "exp_year": exp_year, "cvv": "123"},
                "customer": {"id": "cus_42"},
            },
            headers={**self._headers(key), "Idempotency-Key": f"pm-{next(_keys)}"},
        )
        assert response.status_code == 201, response.text
        method_id: str = response.json()["id"]
        return method_id

    async def create(
        self, body: dict[str, Any], *, key: str | None = None, idempotency_key: str | None = None
    ) -> httpx.Response:
        headers = {
            **self._headers(key),
            "Idempotency-Key": idempotency_key or f"sub-{next(_keys)}",
        }
        return await self.client.post("/api/v1/subscriptions", json=body, headers=headers)

    async def subscribe(self, payment_method: str | None = None, **changes: Any) -> dict[str, Any]:
        """A subscription created with 201 (or 202: the caller says so by checking)."""
        method = payment_method or await self.payment_method()
        response = await self.create(new_subscription(method, **changes))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, path: str = "", *, key: str | None = None, **params: Any) -> httpx.Response:
        return await self.client.get(
            f"/api/v1/subscriptions{path}", params=params, headers=self._headers(key)
        )

    async def one(self, subscription_id: str) -> dict[str, Any]:
        response = await self.get(f"/{subscription_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def invoices(self, subscription_id: str) -> list[dict[str, Any]]:
        """Oldest first (the API lists newest first)."""
        response = await self.get(f"/{subscription_id}/invoices", limit=100)
        assert response.status_code == 200, response.text
        return list(reversed(response.json()["data"]))

    async def put(
        self, subscription_id: str, body: dict[str, Any], *, key: str | None = None
    ) -> httpx.Response:
        return await self.client.put(
            f"/api/v1/subscriptions/{subscription_id}", json=body, headers=self._headers(key)
        )

    async def delete(
        self, subscription_id: str, *, key: str | None = None, **params: Any
    ) -> httpx.Response:
        return await self.client.delete(
            f"/api/v1/subscriptions/{subscription_id}", params=params, headers=self._headers(key)
        )

    async def transaction(self, transaction_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/payments/{transaction_id}", headers=self._headers(None)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def subscriptions_key(make_key: KeyFactory) -> str:
    return await make_key(*ALL_SCOPES)


@pytest.fixture
def api(client: httpx.AsyncClient, subscriptions_key: str) -> Api:
    return Api(client, subscriptions_key)


@dataclass
class Clocks:
    client: httpx.AsyncClient
    key: str

    def _headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    async def post(self, frozen_time: str = START, *, key: str | None = None) -> httpx.Response:
        return await self.client.post(
            "/api/v1/test-clocks", json={"frozen_time": frozen_time}, headers=self._headers(key)
        )

    async def create(self, frozen_time: str = START) -> str:
        response = await self.post(frozen_time)
        assert response.status_code == 201, response.text
        clock_id: str = response.json()["id"]
        return clock_id

    async def get(self, clock_id: str, *, key: str | None = None) -> httpx.Response:
        return await self.client.get(f"/api/v1/test-clocks/{clock_id}", headers=self._headers(key))

    async def advance(
        self, clock_id: str, frozen_time: str, *, key: str | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/test-clocks/{clock_id}/advance",
            json={"frozen_time": frozen_time},
            headers=self._headers(key),
        )

    async def to(self, clock_id: str, frozen_time: str) -> dict[str, Any]:
        response = await self.advance(clock_id, frozen_time)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def delete(self, clock_id: str, *, key: str | None = None) -> httpx.Response:
        return await self.client.delete(
            f"/api/v1/test-clocks/{clock_id}", headers=self._headers(key)
        )


@pytest.fixture
def clocks(client: httpx.AsyncClient, subscriptions_key: str) -> Clocks:
    return Clocks(client, subscriptions_key)


@dataclass
class Billing:
    """Billing passes, reconciliation and the simulator's script, on the test's clock."""

    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock
    processors: ProcessorRegistry
    crypto: FieldCrypto
    settings: Settings
    simulator: Simulator
    merchant: Merchant

    def configured(self, **billing: Any) -> Billing:
        changed = msgspec.structs.replace(self.settings.billing, **billing)
        return replace(self, settings=msgspec.structs.replace(self.settings, billing=changed))

    async def run(self, *, now: bool = False) -> BillingRun:
        return await billing_pass(
            self.sessions,
            clock=self.clock,
            processors=self.processors,
            crypto=self.crypto,
            settings=self.settings,
            ignore_backoff=now,
        )

    async def reconcile(self) -> ReconcileSummary:
        """Past the key's lock (a pending charge is left to its request until then)."""
        self.clock.advance(timedelta(seconds=self.settings.payments.idempotency_lock_seconds + 1))
        return await reconcile_pass(
            self.sessions,
            clock=self.clock,
            processors=self.processors,
            crypto=self.crypto,
            settings=self.settings.payments,
            ignore_backoff=True,
        )

    async def script(self, payment_method: str, outcomes: str) -> None:
        """`gateway simulator script PM_ID OUTCOMES`: the token's next charges."""
        async with self.sessions() as session:
            vault = PaymentMethodService(session, self.clock, self.crypto)
            method = await vault.get(Owner(self.merchant.id, False), payment_method)
            token = vault.processor_token(method)
        await self.simulator.set_script(token, parse_script(outcomes))

    async def charges_sent(self, references: list[str], *, approved: bool = False) -> int:
        """Charge calls the simulator took for these references (our txn_ ids); with
        `approved`, only those that took money."""
        statement = (
            select(func.count())
            .select_from(SimulatorRequest)
            .where(SimulatorRequest.reference.in_(references))
        )
        if approved:
            statement = statement.where(SimulatorRequest.outcome == "approved")
        async with self.sessions() as session:
            count = await session.scalar(statement)
        return int(count or 0)

    async def money_taken(self, subscription_id: str) -> int:
        """Approved charges at the processor for every attempt of a subscription."""
        async with self.sessions() as session:
            references = (
                await session.scalars(
                    select(Transaction.id).where(Transaction.subscription_id == subscription_id)
                )
            ).all()
        return await self.charges_sent(list(references), approved=True)

    async def events(self, object_id: str) -> list[tuple[str | None, str, str]]:
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(Event).where(Event.object_id == object_id).order_by(Event.sequence)
                )
            ).all()
        return [(row.from_status, row.to_status, row.actor) for row in rows]


@pytest.fixture
def billing(
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    resources: Resources,
    field_crypto: FieldCrypto,
    settings: Settings,
    simulator: Simulator,
    merchant: Merchant,
) -> Billing:
    return Billing(
        sessions=session_factory,
        clock=clock,
        processors=resources.processors,
        crypto=field_crypto,
        settings=settings,
        simulator=simulator,
        merchant=merchant,
    )


def _keyed(merchant_id: str, name: str) -> KeyedRequest:
    return KeyedRequest(
        scope=KeyScope(merchant_id=merchant_id, livemode=False, key=f"{name}-{next(_keys)}"),
        fingerprint=RequestFingerprint(current=f"v2:{name}", legacy=name),
    )


async def subscribe_committed(
    resources: Resources, settings: Settings, **changes: Any
) -> tuple[str, str]:
    """A merchant, a stored card and a monthly subscription charged now, made through
    the commands the API runs, on whatever sessions `resources` holds (committed
    ones for races and workers). Returns (merchant id, subscription id)."""
    async with resources.session_factory() as session:
        merchant = await MerchantService(session, resources.clock).create_merchant("Billing Shop")
        await session.commit()
    owner = Owner(merchant.id, False)
    actor = Actor(kind="api")
    processor = resources.processors.for_mode(False)
    vault = VaultCommands(resources, settings, owner=owner, actor=actor, processor=processor)
    card = CardIn(number=VISA, exp_month=12, exp_year=2030, cvv="123")
    stored = await vault.create(NewPaymentMethod(card=card), _keyed(merchant.id, "pm"))
    assert stored.response.status == 201, stored.response.body
    method_id = msgspec.json.decode(stored.response.body)["id"]
    commands = SubscriptionCommands(
        resources,
        settings,
        owner=owner,
        actor=actor,
        processor=processor,
        max_amount=settings.payments.max_amount,
    )
    body = msgspec.convert(new_subscription(method_id, **changes), NewSubscription, strict=False)
    created = await commands.create(body, _keyed(merchant.id, "sub"))
    assert created.response.status == 201, created.response.body
    subscription_id: str = msgspec.json.decode(created.response.body)["id"]
    return merchant.id, subscription_id
