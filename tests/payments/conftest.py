"""The background sweeps (reconciliation, expiry, compensation) run on the test's
own sessions, clock and processors, as a cron tick would run them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.service import Actor
from gateway.composition.resources import Resources
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.settings import PaymentSettings, Settings
from gateway.core.tenancy import Owner
from gateway.idempotency.keys import stored_key
from gateway.idempotency.models import IdempotencyRecord
from gateway.payments.models import Transaction
from gateway.payments.operations import Context, Reserved
from gateway.payments.reconciliation import ReconcileSummary, reconcile_pass
from gateway.payments.sweeps.compensation import CompensationService, CompensationSummary
from gateway.payments.sweeps.expiry import ExpiryService, ExpirySummary
from gateway.processors.registry import ProcessorRegistry


@dataclass
class Sweeps:
    sessions: async_sessionmaker[AsyncSession]
    clock: FrozenClock
    processors: ProcessorRegistry
    crypto: FieldCrypto
    settings: PaymentSettings

    def _services(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "processors": self.processors,
            "crypto": self.crypto,
            "settings": self.settings,
        }

    def configured(self, **changes: Any) -> Sweeps:
        return replace(self, settings=msgspec.structs.replace(self.settings, **changes))

    def past_the_lock(self) -> None:
        """Reconciliation leaves a transaction alone while its request may still run."""
        self.clock.advance(timedelta(seconds=self.settings.idempotency_lock_seconds + 1))

    async def reconcile(self, *, now: bool = False, batch_size: int = 100) -> ReconcileSummary:
        return await reconcile_pass(
            self.sessions, ignore_backoff=now, batch_size=batch_size, **self._services()
        )

    async def expire(self) -> ExpirySummary:
        return await ExpiryService(self.sessions, **self._services()).expire()

    async def compensate(self) -> CompensationSummary:
        return await CompensationService(self.sessions, **self._services()).compensate()

    def context(self, merchant_id: str) -> Context:
        """What an API request of this merchant's test key would run its operation with."""
        return Context(
            owner=Owner(merchant_id, False),
            actor=Actor(kind="api"),
            processor=self.processors.for_mode(False),
            crypto=self.crypto,
            max_amount=self.settings.max_amount,
            auth_expiry_days=self.settings.auth_expiry_days,
            refund_window_days=self.settings.refund_window_days,
        )

    async def without_phase_3(self, operation: Any) -> Reserved:
        """Phases 1 and 2 of an operation, then the process "dies": the processor did
        its part, and the transaction stays pending with nobody to write the outcome."""
        async with self.sessions() as session:
            reserved: Reserved = await operation.reserve(session)
            await session.commit()
        await operation.call(reserved)
        return reserved

    async def row(self, transaction_id: str) -> Transaction:
        async with self.sessions() as session:
            found = await session.get(Transaction, transaction_id, populate_existing=True)
            assert found is not None
            return found

    async def key(self, key: str) -> IdempotencyRecord:
        async with self.sessions() as session:
            record = await session.scalar(
                select(IdempotencyRecord)
                .where(IdempotencyRecord.key == stored_key(self.crypto.fingerprints, key))
                .execution_options(populate_existing=True)
            )
            assert record is not None
            return record


@pytest.fixture
def sweeps(
    session_factory: async_sessionmaker[AsyncSession],
    clock: FrozenClock,
    resources: Resources,
    field_crypto: FieldCrypto,
    settings: Settings,
) -> Sweeps:
    return Sweeps(
        sessions=session_factory,
        clock=clock,
        processors=resources.processors,
        crypto=field_crypto,
        settings=settings.payments,
    )
