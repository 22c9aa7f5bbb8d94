"""Every query on the simulator's tables."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, case, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.rows import insert_row
from gateway.processors.port import Outcome, SettledTransaction
from gateway.processors.simulator.models import (
    CUSTOMER_PROFILE_IDS,
    PAYMENT_PROFILE_IDS,
    TRANSACTION_IDS,
    SimulatorBatch,
    SimulatorPaymentMethod,
    SimulatorRequest,
    SimulatorScriptStep,
    SimulatorTransaction,
    SimulatorWebhook,
)
from gateway.processors.simulator.rules import (
    HELD_STATUSES,
    LIVE_REFUND_STATUSES,
    SETTLES_TO,
    Kind,
    Status,
)
from gateway.processors.simulator.triggers import ScriptStep

_TRANSACTIONS = SimulatorTransaction.__table__
assert isinstance(_TRANSACTIONS, Table)
# Core, built once: the charge path's hottest statements (core/rows.py).
_IN_WINDOW = exists().where(
    _TRANSACTIONS.c.reference == bindparam("reference"),
    _TRANSACTIONS.c.kind.in_(bindparam("kinds", expanding=True)),
    _TRANSACTIONS.c.amount == bindparam("amount"),
    _TRANSACTIONS.c.currency == bindparam("currency"),
    _TRANSACTIONS.c.submitted_at > bindparam("since"),
)
_IS_DUPLICATE = select(_IN_WINDOW)
_DUPLICATE_AND_NEXT_ID = select(_IN_WINDOW, TRANSACTION_IDS.next_value())


@dataclass(frozen=True)
class DuplicateWindow:
    """What makes a call a duplicate: a transaction of these kinds, reference,
    amount and currency made after `since`."""

    reference: str
    kinds: Collection[Kind]
    amount: int
    currency: str
    since: datetime

    def parameters(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "kinds": [str(kind) for kind in self.kinds],
            "amount": self.amount,
            "currency": self.currency,
            "since": self.since,
        }


class SimulatorLedger:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, row: SimulatorTransaction | SimulatorRequest | SimulatorPaymentMethod
    ) -> None:
        self.session.add(row)
        await self.session.flush()

    async def insert(self, row: SimulatorTransaction | SimulatorRequest) -> None:
        """A row the session never changes again: a Core INSERT (core/rows.py)."""
        await insert_row(self.session, row)

    async def new_transaction_id(self) -> int:
        """Taken before the insert: the authorization code is derived from it."""
        value = await self.session.scalar(select(TRANSACTION_IDS.next_value()))
        assert value is not None
        return int(value)

    async def duplicate_and_next_id(self, window: DuplicateWindow) -> tuple[bool, int]:
        """`is_recent_duplicate` and the next transaction id, in one round trip. An id
        taken for a charge then refused is a gap in the ids, as at any processor."""
        row = (await self.session.execute(_DUPLICATE_AND_NEXT_ID, window.parameters())).one()
        return bool(row[0]), int(row[1])

    async def record_call(
        self,
        *,
        reference: str,
        operation: Kind,
        transaction: SimulatorTransaction | None,
        amount: int | None,
        currency: str | None,
        outcome: Outcome,
        reason_code: str | None,
        now: datetime,
        already_done: bool = False,
        response_lost: bool = False,
    ) -> None:
        await self.insert(
            SimulatorRequest(
                reference=reference,
                operation=operation,
                transaction_id=None if transaction is None else transaction.id,
                amount=amount,
                currency=currency,
                outcome=outcome,
                reason_code=reason_code,
                already_done=already_done,
                response_lost=response_lost,
                created_at=now,
            )
        )

    async def transaction(
        self, transaction_id: int, *, for_update: bool = False
    ) -> SimulatorTransaction | None:
        statement = select(SimulatorTransaction).where(SimulatorTransaction.id == transaction_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def is_recent_duplicate(self, window: DuplicateWindow) -> bool:
        return bool((await self.session.execute(_IS_DUPLICATE, window.parameters())).scalar_one())

    async def refunded_total(self, charge_id: int) -> int:
        """What refunds not voided give back of a charge (lock the charge first)."""
        statement = select(func.coalesce(func.sum(SimulatorTransaction.amount), 0)).where(
            SimulatorTransaction.parent_id == charge_id,
            SimulatorTransaction.kind == Kind.REFUND,
            SimulatorTransaction.status.in_([str(status) for status in LIVE_REFUND_STATUSES]),
        )
        return int((await self.session.execute(statement)).scalar_one())

    async def latest_by_reference(self, reference: str) -> SimulatorTransaction | None:
        """The last transaction made with this reference (a charge's or a refund's
        invoiceNumber); a capture or a void makes none, so it is never this."""
        statement = (
            select(SimulatorTransaction)
            .where(SimulatorTransaction.reference == reference)
            .order_by(SimulatorTransaction.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def transactions_by_reference(self, reference: str) -> Sequence[SimulatorTransaction]:
        statement = (
            select(SimulatorTransaction)
            .where(SimulatorTransaction.reference == reference)
            .order_by(SimulatorTransaction.id)
        )
        return (await self.session.scalars(statement)).all()

    async def held_by_reference(self, reference: str) -> SimulatorTransaction | None:
        statement = (
            select(SimulatorTransaction)
            .where(
                SimulatorTransaction.reference == reference,
                SimulatorTransaction.status.in_([str(status) for status in HELD_STATUSES]),
            )
            .order_by(SimulatorTransaction.id.desc())
            .limit(1)
            .with_for_update()
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def new_payment_method_ids(self) -> tuple[int, int]:
        """(customer profile id, payment profile id), taken before the insert so the
        token is known without reading back defaults."""
        customer = await self.session.scalar(select(CUSTOMER_PROFILE_IDS.next_value()))
        payment = await self.session.scalar(select(PAYMENT_PROFILE_IDS.next_value()))
        assert customer is not None
        assert payment is not None
        return int(customer), int(payment)

    async def payment_method(
        self, customer_profile_id: int, payment_profile_id: int, *, for_update: bool = False
    ) -> SimulatorPaymentMethod | None:
        statement = select(SimulatorPaymentMethod).where(
            SimulatorPaymentMethod.id == payment_profile_id,
            SimulatorPaymentMethod.customer_profile_id == customer_profile_id,
        )
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.scalars(statement)).one_or_none()

    async def live_payment_method_by_reference(
        self, reference: str
    ) -> SimulatorPaymentMethod | None:
        statement = (
            select(SimulatorPaymentMethod)
            .where(
                SimulatorPaymentMethod.reference == reference,
                SimulatorPaymentMethod.deleted_at.is_(None),
            )
            .order_by(SimulatorPaymentMethod.id)
            .limit(1)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def next_script_step(self, payment_method_id: int) -> SimulatorScriptStep | None:
        """The first step not yet used; two concurrent charges never take the same one."""
        statement = (
            select(SimulatorScriptStep)
            .where(
                SimulatorScriptStep.payment_method_id == payment_method_id,
                SimulatorScriptStep.consumed_at.is_(None),
            )
            .order_by(SimulatorScriptStep.position)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def replace_script(
        self, payment_method_id: int, steps: Sequence[ScriptStep], *, now: datetime
    ) -> None:
        await self.session.execute(
            delete(SimulatorScriptStep).where(
                SimulatorScriptStep.payment_method_id == payment_method_id
            )
        )
        self.session.add_all(
            SimulatorScriptStep(
                payment_method_id=payment_method_id,
                position=position,
                action=step.action,
                reason_code=step.reason_code,
                created_at=now,
                consumed_at=None,
            )
            for position, step in enumerate(steps, start=1)
        )
        await self.session.flush()

    async def expire_authorizations(self, now: datetime) -> list[int]:
        result = await self.session.execute(
            update(SimulatorTransaction)
            .where(
                SimulatorTransaction.status == Status.AUTHORIZED_PENDING_CAPTURE,
                SimulatorTransaction.expires_at <= now,
            )
            .values(status=Status.EXPIRED)
            .returning(SimulatorTransaction.id)
            .execution_options(synchronize_session=False)
        )
        return sorted(result.scalars().all())

    async def settle(
        self, *, before: datetime | None, at: datetime
    ) -> tuple[int | None, list[int]]:
        """Settle what joined the queue before `before` (everything when None) in one
        new batch; (batch id, settled ids), with no batch when nothing settled."""
        batch = SimulatorBatch(cutoff_at=before, settled_at=at)
        self.session.add(batch)
        await self.session.flush()
        statement = (
            update(SimulatorTransaction)
            .where(SimulatorTransaction.status.in_([str(status) for status in SETTLES_TO]))
            .values(
                status=case(
                    {str(old): str(new) for old, new in SETTLES_TO.items()},
                    value=SimulatorTransaction.status,
                ),
                settled_at=at,
                batch_id=batch.id,
            )
            .returning(SimulatorTransaction.id)
            .execution_options(synchronize_session=False)
        )
        if before is not None:
            statement = statement.where(SimulatorTransaction.pending_settlement_at < before)
        settled = sorted((await self.session.execute(statement)).scalars().all())
        if not settled:
            await self.session.delete(batch)
            await self.session.flush()
            return None, []
        return batch.id, settled

    async def settled_between(self, first: datetime, last: datetime) -> list[SettledTransaction]:
        """Every transaction of the batches settled from `first` to `last`, both
        included, by batch then id."""
        statement = (
            select(SimulatorTransaction, SimulatorBatch.settled_at)
            .join(SimulatorBatch, SimulatorTransaction.batch_id == SimulatorBatch.id)
            .where(SimulatorBatch.settled_at >= first, SimulatorBatch.settled_at <= last)
            .order_by(SimulatorBatch.id, SimulatorTransaction.id)
        )
        return [
            SettledTransaction(
                processor_transaction_id=str(row.id),
                batch_id=str(row.batch_id),
                settled_at=settled_at,
                kind="refund" if row.kind == "refund" else "charge",
                amount=row.settle_amount,
                currency=row.currency,
            )
            for row, settled_at in await self.session.execute(statement)
        ]

    async def webhook(self, notification_id: str) -> SimulatorWebhook | None:
        return await self.session.get(SimulatorWebhook, notification_id)

    async def mark_webhook_delivered(self, notification_id: str, *, at: datetime) -> None:
        await self.session.execute(
            update(SimulatorWebhook)
            .where(SimulatorWebhook.id == notification_id, SimulatorWebhook.delivered_at.is_(None))
            .values(delivered_at=at)
        )
