"""The phase runner of DESIGN.md invariant 4.

A money-moving request runs in three phases, each its own commit:

1. reserve: claim the Idempotency-Key and write the `pending` transaction (and so
   its amount reservation), with its event and audit row; commit;
2. call the processor, outside any database transaction or row lock;
3. finalize: write the outcome, its events and the response; store the response
   on the key in the same transaction; commit.

A crash between phases leaves the key in flight and the transaction pending:
reconciliation asks the processor what happened, and a retry with the same key
after the lock expires is answered from that transaction. Nothing is re-sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import GatewayError
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.core.problems import STATUS_BY_CODE, problem_of
from gateway.idempotency.keys import IdempotencyKeyInUse, IdempotencyKeyReused
from gateway.idempotency.models import IdempotencyRecord
from gateway.idempotency.store import (
    STORED_STATUSES,
    Decision,
    IdempotencyStore,
    KeyScope,
    StoredResponse,
)


class Reservation(Protocol):
    @property
    def object_id(self) -> str:
        """The transaction (or payment method) phase 1 wrote."""
        ...


R = TypeVar("R", bound=Reservation)


class Operation(Protocol[R]):
    """One kind of money-moving request (purchase, capture, ...)."""

    async def admit(self) -> None:
        """Before anything is written: raise a GatewayError to refuse at once (an
        open circuit breaker), leaving no trace and the key unused."""
        ...

    async def reserve(self, session: AsyncSession) -> R:
        """Phase 1: validate, write the pending transaction; raise a GatewayError to refuse."""
        ...

    async def call(self, reservation: R) -> None:
        """Phase 2: the processor call; no session is open. Keeps its outcome on the
        reservation; never raises for a processor failure."""
        ...

    async def finalize(self, session: AsyncSession, reservation: R) -> StoredResponse:
        """Phase 3: write the outcome and answer."""
        ...


# Answers rebuilt from the transaction's current state (a stored 202, an orphan).
CurrentResponse = Callable[[AsyncSession, str], Awaitable[StoredResponse]]


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


StoreFactory = Callable[[AsyncSession], IdempotencyStore]


class PhaseRunner:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        store: StoreFactory,
        current_response: CurrentResponse,
        *,
        faults: FaultPoints | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.store = store
        self.current_response = current_response
        self.faults = faults or FaultPoints.none()

    async def replay(self, session: AsyncSession, record: IdempotencyRecord) -> StoredResponse:
        """The stored answer; a stored 202 (or an orphan's) is rebuilt from the
        transaction's current state, and kept once it is final."""
        store = self.store(session)
        if record.response_status is not None and record.response_status != 202:
            return store.stored_response(record)
        assert record.transaction_id is not None
        response = await self.current_response(session, record.transaction_id)
        if is_stored(response):
            store.complete(record, response)
        return response

    async def answer_existing(
        self, session: AsyncSession, decision: Decision, record: IdempotencyRecord
    ) -> Outcome:
        """What a request gets when its key is not fresh."""
        if decision is Decision.REUSED:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
        if decision is Decision.IN_USE:
            raise IdempotencyKeyInUse(
                "A request with this Idempotency-Key is still running; retry shortly.",
                retry_after=1,
            )
        return Outcome(await self.replay(session, record), replayed=True)

    async def run(self, scope: KeyScope, fingerprint: str, operation: Operation[R]) -> Outcome:
        await operation.admit()
        async with self.session_factory() as session:
            store = self.store(session)
            decision, record = await store.claim(scope, fingerprint)
            if decision is not Decision.FRESH:
                outcome = await self.answer_existing(session, decision, record)
                await session.commit()
                return outcome
            try:
                # A savepoint: a refusal undoes what phase 1 wrote, but not the key.
                async with session.begin_nested():
                    reservation = await operation.reserve(session)
            except GatewayError as error:
                response = error_response(error)
                if not is_stored(response):
                    await session.rollback()  # the key is free again
                    raise
                store.complete(record, response)
                await session.commit()
                return Outcome(response)
            store.mark_reserved(record, reservation.object_id)
            await session.commit()

        self.faults.reach(FaultPoint.AFTER_RESERVE)
        await operation.call(reservation)
        self.faults.reach(FaultPoint.AFTER_PROCESSOR_CALL)

        async with self.session_factory() as session:
            store = self.store(session)
            response = await operation.finalize(session, reservation)
            held = await store.find(scope, for_update=True)
            if held is not None:
                if is_stored(response):
                    store.complete(held, response)
                else:
                    await store.release(held)
            self.faults.reach(FaultPoint.BEFORE_FINAL_COMMIT)
            await session.commit()
        return Outcome(response)
