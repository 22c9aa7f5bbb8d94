"""The money runner: DESIGN.md invariant 4, written once.

Every money movement (an API request, a renewal, a sweep's void) runs in three
phases, each its own commit:

1. reserve: take the movement's claim (an Idempotency-Key, an invoice, or none),
   decide everything that needs no processor (body, card, amounts, the object's
   existence, owner and state) and write the `pending` transaction with its event
   and audit row; only then ask the circuit breaker (`admit`), so a request that
   can never succeed is refused with its own error whatever the breaker's state,
   and takes no trial slot; commit;
2. call the processor, outside any database transaction or row lock;
3. finish: write the outcome, its events and the answer; settle the claim in the
   same transaction; commit.

A refusal in phase 1 (a GatewayError: a rule, or an open breaker) rolls the
phase back, claim included; the claim, taken again, says whether that refusal is
an answer to keep (a stored 404, a postponed invoice) or nothing at all (the key
is free again). A crash
between phases leaves the transaction pending and the claim in flight:
reconciliation asks the processor what happened; nothing is re-sent. The fault
points of GATEWAY_FAULT_INJECTION are reached here, so chaos reaches every kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import GatewayError
from gateway.core.faults import FaultPoint, FaultPoints

R = TypeVar("R")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
R_contra = TypeVar("R_contra", contravariant=True)


class Operation(Protocol[R, T_co]):
    """One kind of money movement (purchase, capture, renewal, expiry void, ...)."""

    async def reserve(self, session: AsyncSession) -> R:
        """Phase 1: decide and write the pending transaction; raise a GatewayError
        to refuse."""
        ...

    async def admit(self, reservation: R) -> None:
        """Phase 1's last step: take the breaker's permit for the call (kept on the
        reservation), or raise ProcessorUnavailable."""
        ...

    async def call(self, reservation: R) -> None:
        """Phase 2: the processor call; no session is open. Keeps its outcome on the
        reservation; never raises for a processor failure."""
        ...

    async def finalize(self, session: AsyncSession, reservation: R) -> T_co:
        """Phase 3: write the outcome and answer."""
        ...


class Claim(Protocol[R_contra, T]):
    """What makes one movement run at most once, and what it answers otherwise."""

    async def take(self, session: AsyncSession) -> T | None:
        """Claim the movement: None to run it, or the answer it already has."""
        ...

    async def refused(self, session: AsyncSession, error: GatewayError) -> T | None:
        """Phase 1 refused (what it wrote is undone): an answer to commit, or None to
        roll the claim back too and raise the error."""
        ...

    async def reserved(self, session: AsyncSession, reservation: R_contra) -> None:
        """Phase 1 succeeded: note what it reserved, in its commit."""
        ...

    async def settle(self, session: AsyncSession, answer: T) -> None:
        """Phase 3: record the answer on the claim, in its commit."""
        ...


class NoClaim:
    """A sweep's movement: its row lock and state checks in phase 1 are the claim."""

    async def take(self, session: AsyncSession) -> None:
        return None

    async def refused(self, session: AsyncSession, error: GatewayError) -> None:
        return None

    async def reserved(self, session: AsyncSession, reservation: object) -> None:
        return None

    async def settle(self, session: AsyncSession, answer: object) -> None:
        return None


class MoneyRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        faults: FaultPoints | None = None,
    ) -> None:
        self.sessions = sessions
        self.faults = faults or FaultPoints.none()

    async def run(self, claim: Claim[R, T], operation: Operation[R, T]) -> T:
        refusal: GatewayError | None = None
        async with self.sessions() as session:
            existing = await claim.take(session)
            if existing is not None:
                await session.commit()
                return existing
            try:
                reservation = await operation.reserve(session)
                await operation.admit(reservation)
            except GatewayError as error:
                await session.rollback()
                refusal = error
            else:
                await claim.reserved(session, reservation)
                await session.commit()
        if refusal is not None:
            return await self._refuse(claim, refusal)

        self.faults.reach(FaultPoint.AFTER_RESERVE)
        await operation.call(reservation)
        self.faults.reach(FaultPoint.AFTER_PROCESSOR_CALL)
        return await self.finish(
            lambda session: self._finalize(session, claim, operation, reservation)
        )

    async def _refuse(self, claim: Claim[R, T], error: GatewayError) -> T:
        """Phase 1 refused, and its transaction (the claim's too) is rolled back: no
        savepoint, whose two round trips every movement would pay for the few that
        are refused. The claim is taken again, so an answer the key (or invoice)
        got meanwhile wins; else the refusal is kept as its answer, or raised with
        the claim left free."""
        async with self.sessions() as session:
            existing = await claim.take(session)
            if existing is not None:
                await session.commit()
                return existing
            answer = await claim.refused(session, error)
            if answer is None:
                raise error  # the session rolls back: the claim is free again
            await session.commit()
            return answer

    @staticmethod
    async def _finalize(
        session: AsyncSession, claim: Claim[R, T], operation: Operation[R, T], reservation: R
    ) -> T:
        answer = await operation.finalize(session, reservation)
        await claim.settle(session, answer)
        return answer

    async def finish(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Phase 3 alone, on a session of its own: a movement's finish, or
        reconciliation's finish of one whose phase 3 never came."""
        async with self.sessions() as session:
            answer = await work(session)
            self.faults.reach(FaultPoint.BEFORE_FINAL_COMMIT)
            await session.commit()
        return answer
