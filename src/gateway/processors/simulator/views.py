"""The simulator's ledger rows as the port shows them (getTransactionDetails)."""

from __future__ import annotations

from datetime import datetime

from gateway.processors.port import ProcessorTransaction
from gateway.processors.simulator.models import SimulatorTransaction
from gateway.processors.simulator.rules import status_at


def transaction_view(
    row: SimulatorTransaction, *, kind: str, reference: str, now: datetime
) -> ProcessorTransaction:
    """`row` as the processor reports it at `now` (its status moves with time)."""
    return ProcessorTransaction(
        processor_transaction_id=str(row.id),
        reference=reference,
        kind=kind,
        status=status_at(row, now),
        amount=row.amount,
        settled_amount=row.settle_amount,
        currency=row.currency,
        reason_code=row.reason_code,
        auth_code=row.auth_code,
        submitted_at=row.submitted_at,
        settled_at=row.settled_at,
        parent_processor_transaction_id=None if row.parent_id is None else str(row.parent_id),
    )
