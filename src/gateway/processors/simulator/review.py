"""Fraud review: the merchant's decision on a charge held (reasons 252/253), as
in Authorize.Net's console."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from gateway.processors.port import Outcome
from gateway.processors.simulator import webhooks
from gateway.processors.simulator.errors import NotHeld, UnknownReference
from gateway.processors.simulator.identifiers import auth_code_for
from gateway.processors.simulator.ledger import SimulatorLedger
from gateway.processors.simulator.models import SimulatorTransaction
from gateway.processors.simulator.rules import Kind, Status
from gateway.processors.simulator.triggers import GENERAL_DECLINE

ReviewDecision = Literal["approve", "decline"]


async def decide(
    ledger: SimulatorLedger,
    reference: str,
    decision: ReviewDecision,
    *,
    notify: bool,
    now: datetime,
) -> SimulatorTransaction:
    """Approve or decline the held charge made with `reference`; `notify`: record
    the webhook the decision owes the gateway."""
    row = await ledger.held_by_reference(reference)
    if row is None:
        if await ledger.transactions_by_reference(reference):
            raise NotHeld("the transaction is not held for review")
        raise UnknownReference("the simulator has no transaction with this reference")
    approved = decision == "approve"
    if approved:
        purchase = row.kind == Kind.PURCHASE
        row.status = (
            Status.CAPTURED_PENDING_SETTLEMENT if purchase else Status.AUTHORIZED_PENDING_CAPTURE
        )
        row.auth_code = auth_code_for(row.id)
        row.reason_code = None
        if purchase:
            row.pending_settlement_at = now
    else:
        row.status = Status.DECLINED
        row.reason_code = GENERAL_DECLINE
        row.settle_amount = 0
    if notify:
        await webhooks.record(
            ledger.session,
            webhooks.EventType.FRAUD_APPROVED if approved else webhooks.EventType.FRAUD_DECLINED,
            row,
            outcome=Outcome.APPROVED if approved else Outcome.DECLINED,
            now=now,
        )
    return row
