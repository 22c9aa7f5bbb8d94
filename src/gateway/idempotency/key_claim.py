"""An API request's claim: its Idempotency-Key (DESIGN.md invariant 3).

A fresh key runs the request; a key whose request finished answers what it
answered then (a stored 202, or an orphan's, is rebuilt from the transaction's
current state and kept once final); a key still in flight, or reused with another
body, is refused. None of this asks the circuit breaker: a replay is answered
whatever its state and never takes the half-open trial.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import GatewayError
from gateway.core.problems import STATUS_BY_CODE, problem_of
from gateway.idempotency.fingerprint import RequestFingerprint
from gateway.idempotency.keys import IdempotencyKeyInUse, IdempotencyKeyReused
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import (
    STORED_STATUSES,
    Decision,
    IdempotencyStore,
    KeyScope,
    StoredResponse,
)

# Answers rebuilt from the transaction's current state (a stored 202, an orphan).
CurrentResponse = Callable[[AsyncSession, str], Awaitable[StoredResponse]]
StoreFactory = Callable[[AsyncSession], IdempotencyStore]


@dataclass(frozen=True)
class Outcome:
    response: StoredResponse
    replayed: bool = False


def error_response(error: GatewayError) -> StoredResponse:
    return StoredResponse(
        status=STATUS_BY_CODE[error.code], body=msgspec.json.encode(problem_of(error))
    )


def is_stored(response: StoredResponse) -> bool:
    return response.status in STORED_STATUSES


class Reservation(Protocol):
    @property
    def object_id(self) -> str:
        """The transaction (or payment method, subscription) phase 1 wrote: what a
        replay of the key answers for."""
        ...


class KeyAnswers:
    """How a key that is not fresh is answered (shared by the claim and the early
    replay check that runs before a body is read)."""

    def __init__(self, store: StoreFactory, current_response: CurrentResponse) -> None:
        self.store = store
        self.current_response = current_response

    async def replay(self, session: AsyncSession, record: IdempotencyRecord) -> StoredResponse:
        store = self.store(session)
        if record.response_status is not None and record.response_status != 202:
            return store.stored_response(record)
        assert record.transaction_id is not None
        response = await self.current_response(session, record.transaction_id)
        if is_stored(response):
            await store.complete(record.id, response)
        return response

    async def existing(
        self, session: AsyncSession, decision: Decision, record: IdempotencyRecord
    ) -> StoredResponse:
        if decision is Decision.REUSED:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
        if decision is Decision.IN_USE:
            raise IdempotencyKeyInUse(
                "A request with this Idempotency-Key is still running; retry shortly.",
                retry_after=1,
            )
        return await self.replay(session, record)


class KeyClaim:
    """One request's claim on its key; `replayed` tells whether it ran."""

    def __init__(
        self, answers: KeyAnswers, scope: KeyScope, fingerprint: RequestFingerprint
    ) -> None:
        self.answers = answers
        self.scope = scope
        self.fingerprint = fingerprint
        self.replayed = False
        self._record: IdempotencyRecord | None = None

    async def take(self, session: AsyncSession) -> StoredResponse | None:
        decision, record = await self.answers.store(session).claim(self.scope, self.fingerprint)
        if decision is Decision.FRESH:
            self._record = record
            return None
        self.replayed = True
        return await self.answers.existing(session, decision, record)

    async def refused(self, session: AsyncSession, error: GatewayError) -> StoredResponse | None:
        response = error_response(error)
        if not is_stored(response):
            return None  # a 400 or a 503: the key is free for a corrected retry
        assert self._record is not None
        await self.answers.store(session).complete(self._record.id, response)
        return response

    async def reserved(self, session: AsyncSession, reservation: Reservation) -> None:
        assert self._record is not None
        await self.answers.store(session).mark_reserved(self._record.id, reservation.object_id)

    async def settle(self, session: AsyncSession, answer: StoredResponse) -> None:
        # By the id phase 1 claimed: one statement, no load of the row first.
        assert self._record is not None
        store = self.answers.store(session)
        if is_stored(answer):
            await store.complete(self._record.id, answer)
        else:
            await store.release(self._record.id)
