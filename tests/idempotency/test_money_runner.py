"""The money runner (DESIGN.md invariant 4) with a fake operation and claim on a
real PostgreSQL: every phase outcome, and a death at every fault point."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from gateway.core.errors import GatewayError, NotFound, ValidationFailed
from gateway.core.faults import FaultPoint, FaultPoints
from gateway.idempotency.runner import MoneyRunner, NoClaim
from gateway.processors.breaker import ProcessorUnavailable


class _Died(Exception):
    """SIGKILL, without ending the test process."""


def _die() -> None:
    raise _Died


def dies_at(point: FaultPoint) -> FaultPoints:
    return FaultPoints({point: 1.0}, kill=_die)


@pytest.fixture
async def tables(db_connection: AsyncConnection) -> None:
    await db_connection.execute(
        text("CREATE TEMP TABLE probe_claim (id text PRIMARY KEY, state text, answer text)")
    )
    await db_connection.execute(
        text("CREATE TEMP TABLE probe_movement (id text PRIMARY KEY, status text)")
    )


@dataclass
class Reserved:
    object_id: str
    permit: bool = False
    answer: str | None = None


class Stored(GatewayError):
    """A refusal the claim keeps as its answer (like a stored 404)."""

    code = "not_found"


class ProbeClaim:
    """Claims a row of probe_claim, like an Idempotency-Key."""

    def __init__(self, claim_id: str) -> None:
        self.claim_id = claim_id

    async def take(self, session: AsyncSession) -> str | None:
        row = (
            await session.execute(
                text("SELECT state, answer FROM probe_claim WHERE id = :id FOR UPDATE"),
                {"id": self.claim_id},
            )
        ).one_or_none()
        if row is not None:
            return str(row.answer) if row.state == "done" else "in flight"
        await session.execute(
            text("INSERT INTO probe_claim VALUES (:id, 'taken', NULL)"), {"id": self.claim_id}
        )
        return None

    async def refused(self, session: AsyncSession, error: GatewayError) -> str | None:
        if not isinstance(error, Stored):
            return None
        await self.settle(session, f"refused: {error.detail}")
        return f"refused: {error.detail}"

    async def reserved(self, session: AsyncSession, reservation: Reserved) -> None:
        await session.execute(
            text("UPDATE probe_claim SET state = 'reserved' WHERE id = :id"), {"id": self.claim_id}
        )

    async def settle(self, session: AsyncSession, answer: str) -> None:
        await session.execute(
            text("UPDATE probe_claim SET state = 'done', answer = :answer WHERE id = :id"),
            {"id": self.claim_id, "answer": answer},
        )


@dataclass
class ProbeOperation:
    movement_id: str
    refuse_in_reserve: GatewayError | None = None
    refuse_in_admit: GatewayError | None = None
    phases: list[str] = field(default_factory=list)

    async def reserve(self, session: AsyncSession) -> Reserved:
        self.phases.append("reserve")
        await session.execute(
            text("INSERT INTO probe_movement VALUES (:id, 'pending')"), {"id": self.movement_id}
        )
        if self.refuse_in_reserve is not None:
            raise self.refuse_in_reserve
        return Reserved(self.movement_id)

    async def admit(self, reservation: Reserved) -> None:
        self.phases.append("admit")
        if self.refuse_in_admit is not None:
            raise self.refuse_in_admit
        reservation.permit = True

    async def call(self, reservation: Reserved) -> None:
        assert reservation.permit, "the call presents the permit phase 1 took"
        self.phases.append("call")
        reservation.answer = "approved"

    async def finalize(self, session: AsyncSession, reservation: Reserved) -> str:
        self.phases.append("finalize")
        await session.execute(
            text("UPDATE probe_movement SET status = :status WHERE id = :id"),
            {"id": reservation.object_id, "status": reservation.answer},
        )
        return f"answered {reservation.answer}"


@dataclass
class Rows:
    claim: tuple[str, str | None] | None
    movement: str | None


async def rows(sessions: async_sessionmaker[AsyncSession]) -> Rows:
    async with sessions() as session:
        claim = (await session.execute(text("SELECT state, answer FROM probe_claim"))).one_or_none()
        movement = await session.scalar(text("SELECT status FROM probe_movement"))
    return Rows(claim=None if claim is None else (claim.state, claim.answer), movement=movement)


pytestmark = pytest.mark.usefixtures("tables")


async def test_a_fresh_movement_runs_its_three_phases_each_committed(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    operation = ProbeOperation("m1")
    answer = await MoneyRunner(session_factory).run(ProbeClaim("k1"), operation)
    assert answer == "answered approved"
    assert operation.phases == ["reserve", "admit", "call", "finalize"]
    assert await rows(session_factory) == Rows(("done", "answered approved"), "approved")


async def test_a_claim_with_an_answer_is_answered_without_reserving_or_calling(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    runner = MoneyRunner(session_factory)
    await runner.run(ProbeClaim("k1"), ProbeOperation("m1"))
    again = ProbeOperation("m2")
    assert await runner.run(ProbeClaim("k1"), again) == "answered approved"
    assert again.phases == []


async def test_a_refusal_the_claim_keeps_is_its_answer_and_phase_1_is_undone(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    operation = ProbeOperation("m1", refuse_in_reserve=Stored("no such transaction"))
    answer = await MoneyRunner(session_factory).run(ProbeClaim("k1"), operation)
    assert answer == "refused: no such transaction"
    assert operation.phases == ["reserve"], "never admitted, never called"
    assert await rows(session_factory) == Rows(("done", answer), None)


class RacedClaim(ProbeClaim):
    """A claim that another request with the same key answers while the refused
    phase 1 is being rolled back (between the two takes)."""

    def __init__(self, claim_id: str) -> None:
        super().__init__(claim_id)
        self.takes = 0

    async def take(self, session: AsyncSession) -> str | None:
        self.takes += 1
        if self.takes == 2:
            await session.execute(
                text("INSERT INTO probe_claim VALUES (:id, 'done', 'the other answer')"),
                {"id": self.claim_id},
            )
        return await super().take(session)


async def test_a_refusal_yields_to_an_answer_the_claim_got_meanwhile(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    operation = ProbeOperation("m1", refuse_in_reserve=Stored("no such transaction"))
    claim = RacedClaim("k1")
    answer = await MoneyRunner(session_factory).run(claim, operation)
    assert answer == "the other answer", "the key's answer wins over our refusal"
    assert claim.takes == 2
    assert await rows(session_factory) == Rows(("done", "the other answer"), None)


@pytest.mark.parametrize(
    "operation",
    [
        pytest.param(
            ProbeOperation("m1", refuse_in_reserve=ValidationFailed("bad card")),
            id="a-400-in-reserve",
        ),
        pytest.param(
            ProbeOperation("m1", refuse_in_admit=ProcessorUnavailable("open")),
            id="an-open-breaker",
        ),
    ],
)
async def test_a_refusal_the_claim_does_not_keep_frees_the_claim_and_raises(
    session_factory: async_sessionmaker[AsyncSession], operation: ProbeOperation
) -> None:
    with pytest.raises(GatewayError):
        await MoneyRunner(session_factory).run(ProbeClaim("k1"), operation)
    assert "call" not in operation.phases
    assert await rows(session_factory) == Rows(None, None), "nothing written, the claim free"


async def test_the_breaker_is_asked_only_after_phase_1_decided(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    operation = ProbeOperation(
        "m1", refuse_in_reserve=NotFound("unknown"), refuse_in_admit=ProcessorUnavailable("open")
    )
    with pytest.raises(NotFound):
        await MoneyRunner(session_factory).run(NoClaim(), operation)
    assert operation.phases == ["reserve"]


@pytest.mark.parametrize(
    ("point", "phases", "movement"),
    [
        (FaultPoint.AFTER_RESERVE, ["reserve", "admit"], "pending"),
        (FaultPoint.AFTER_PROCESSOR_CALL, ["reserve", "admit", "call"], "pending"),
        (FaultPoint.BEFORE_FINAL_COMMIT, ["reserve", "admit", "call", "finalize"], "pending"),
    ],
)
async def test_a_death_between_phases_leaves_the_movement_pending_and_the_claim_in_flight(
    session_factory: async_sessionmaker[AsyncSession],
    point: FaultPoint,
    phases: list[str],
    movement: str,
) -> None:
    operation = ProbeOperation("m1")
    with pytest.raises(_Died):
        await MoneyRunner(session_factory, faults=dies_at(point)).run(ProbeClaim("k1"), operation)
    assert operation.phases == phases
    assert await rows(session_factory) == Rows(("reserved", None), movement)
    # Nothing runs it again: the claim answers "in flight" until reconciliation.
    retry = ProbeOperation("m2")
    assert await MoneyRunner(session_factory).run(ProbeClaim("k1"), retry) == "in flight"
    assert retry.phases == []


async def test_finish_alone_commits_its_work_and_reaches_the_last_fault_point(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async def write(session: AsyncSession) -> str:
        await session.execute(text("INSERT INTO probe_movement VALUES ('m1', 'reconciled')"))
        return "done"

    runner = MoneyRunner(session_factory, faults=dies_at(FaultPoint.BEFORE_FINAL_COMMIT))
    with pytest.raises(_Died):
        await runner.finish(write)
    assert (await rows(session_factory)).movement is None
    assert await MoneyRunner(session_factory).finish(write) == "done"
    assert (await rows(session_factory)).movement == "reconciled"
