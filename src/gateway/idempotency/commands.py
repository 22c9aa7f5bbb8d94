"""The base of every set of Idempotency-Key commands (payments, payment methods,
subscriptions): the key store, the money runner, and the answer an existing key
already has. Subclasses say how a transaction or object answers now."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.core.relay_nudge import RelayNudge
from gateway.core.settings import Settings
from gateway.core.tenancy import Owner
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.key_claim import KeyAnswers, KeyClaim, Outcome, Reservation
from gateway.idempotency.runner import MoneyRunner, Operation
from gateway.idempotency.store import (
    Decision,
    IdempotencyStore,
    KeyScope,
    StoredResponse,
    decide,
)

R = TypeVar("R", bound=Reservation)


@dataclass(frozen=True)
class KeyedRequest:
    """A request's Idempotency-Key, scoped to its merchant and mode, and its fingerprint."""

    scope: KeyScope
    fingerprint: RequestFingerprint


class KeyedCommands(ABC):
    def __init__(self, resources: Resources, settings: Settings, owner: Owner) -> None:
        self.resources = resources
        self.settings = settings
        self.owner = owner
        self.runner = MoneyRunner(resources.session_factory, faults=resources.faults)
        self.answers = KeyAnswers(self.store, self.current_response)

    def store(self, session: AsyncSession) -> IdempotencyStore:
        payments = self.settings.payments
        return IdempotencyStore(
            session,
            clock=self.resources.clock,
            crypto=self.resources.crypto,
            lock_seconds=payments.idempotency_lock_seconds,
            retention_hours=payments.idempotency_retention_hours,
        )

    @abstractmethod
    async def current_response(self, session: AsyncSession, object_id: str) -> StoredResponse:
        """The answer the object a key reserved gives now (a stored 202, an orphan)."""

    async def existing(self, keyed: KeyedRequest) -> Outcome | None:
        """The answer a key already has, or None when the request should run."""
        async with self.resources.session_factory() as session:
            store = self.store(session)
            record = await store.find(keyed.scope, for_update=True)
            decision = decide(record, keyed.fingerprint, self.resources.clock.now())
            if decision is Decision.FRESH or record is None:
                return None
            response = await self.answers.existing(session, decision, record)
            await session.commit()
            return Outcome(response, replayed=True)

    async def run(self, keyed: KeyedRequest, operation: Operation[R, StoredResponse]) -> Outcome:
        """The operation under the money runner. Its events are committed when this
        returns: the caller nudges `relay` once the answer is on its way, so the
        nudge never delays it."""
        claim = KeyClaim(self.answers, keyed.scope, keyed.fingerprint)
        response = await self.runner.run(claim, operation)
        return Outcome(response, replayed=claim.replayed)

    @property
    def relay(self) -> RelayNudge | None:
        return self.resources.relay
