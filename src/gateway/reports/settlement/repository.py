"""The report's reads of our ledger (the transactions table), nothing written."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Final

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from gateway.payments.models import Transaction
from gateway.reports.settlement.dates import Window
from gateway.reports.settlement.rules import ActivityRow, LedgerEntry

PARENT_TYPES: Final = ("purchase", "authorization")
# A parent in one of these still has its captured amount to settle.
SETTLING_PARENT: Final = frozenset({"captured", "partially_refunded", "refunded"})
_DAY_TYPES: Final = ("purchase", "capture", "refund", "void")
_DONE: Final = ("captured", "partially_refunded", "refunded", "voided", "succeeded")


class SettlementLedger:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def entries(
        self, processor: str, processor_transaction_ids: Collection[str], *, settled: Window
    ) -> list[LedgerEntry]:
        """Our rows that stand for a processor transaction which settles money
        (a charge, or a refund made as one), among those the processor reported
        or those we recorded as settled within `settled`, whatever the merchant.

        A capture keeps its authorization's id and settles with it; a void, or a
        full refund made as one before settlement, keeps its parent's id and
        means that parent settles nothing."""
        child = aliased(Transaction)
        parent = aliased(Transaction)
        voided = (
            exists()
            .where(
                child.merchant_id == Transaction.merchant_id,
                child.parent_id == Transaction.id,
                child.processor_transaction_id == Transaction.processor_transaction_id,
                child.type.in_(("refund", "void")),
                child.status == "succeeded",
            )
            .label("voided")
        )
        sent_as_void = exists().where(
            parent.merchant_id == Transaction.merchant_id,
            parent.id == Transaction.parent_id,
            parent.processor_transaction_id == Transaction.processor_transaction_id,
        )
        start, end = settled
        statement = select(
            Transaction.id,
            Transaction.merchant_id,
            Transaction.processor,
            Transaction.processor_transaction_id,
            Transaction.type,
            Transaction.status,
            Transaction.amount,
            Transaction.amount_captured,
            Transaction.currency,
            Transaction.settled_at,
            voided,
        ).where(
            Transaction.processor == processor,
            Transaction.processor_transaction_id.is_not(None),
            or_(
                Transaction.type.in_(PARENT_TYPES),
                and_(Transaction.type == "refund", ~sent_as_void),
            ),
            or_(
                Transaction.processor_transaction_id.in_(list(processor_transaction_ids)),
                and_(Transaction.settled_at >= start, Transaction.settled_at < end),
            ),
        )
        return [_entry(row) for row in await self.session.execute(statement)]

    async def activity(self, window: Window, *, merchant_id: str | None) -> list[ActivityRow]:
        """Our purchases, captures, refunds and voids made within `window` that
        went through (the rules tell which count as what)."""
        start, end = window
        statement = select(
            Transaction.merchant_id,
            Transaction.type,
            Transaction.status,
            Transaction.amount,
            Transaction.currency,
        ).where(
            Transaction.created_at >= start,
            Transaction.created_at < end,
            Transaction.type.in_(_DAY_TYPES),
            Transaction.status.in_(_DONE),
        )
        if merchant_id is not None:
            statement = statement.where(Transaction.merchant_id == merchant_id)
        return [
            ActivityRow(
                merchant_id=row.merchant_id,
                type=row.type,
                status=row.status,
                amount=row.amount,
                currency=row.currency,
            )
            for row in await self.session.execute(statement)
        ]


def _entry(row: Any) -> LedgerEntry:  # a Row of the columns selected above
    if row.type == "refund":
        amount = row.amount if row.status == "succeeded" else 0
    else:
        amount = row.amount_captured if row.status in SETTLING_PARENT and not row.voided else 0
    return LedgerEntry(
        merchant_id=row.merchant_id,
        transaction_id=row.id,
        processor=row.processor,
        processor_transaction_id=row.processor_transaction_id,
        kind="refund" if row.type == "refund" else "charge",
        amount=amount,
        currency=row.currency,
        settled_at=row.settled_at,
    )
