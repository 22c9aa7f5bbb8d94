"""Capture, void and refund: calls on a transaction the simulator already holds.

The target row is locked for the length of the call, so two captures or two
refunds of one charge are judged one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.processors.port import (
    CaptureRequest,
    Outcome,
    ProcessorResult,
    RefundRequest,
    VoidRequest,
)
from gateway.processors.simulator.config import DUPLICATE_WINDOW, SimulatorConfig
from gateway.processors.simulator.identifiers import parse_transaction_id
from gateway.processors.simulator.ledger import DuplicateWindow, SimulatorLedger
from gateway.processors.simulator.models import SimulatorTransaction
from gateway.processors.simulator.rules import (
    DUPLICATE,
    Kind,
    Status,
    Verdict,
    capture_verdict,
    refund_verdict,
    void_verdict,
)
from gateway.processors.simulator.triggers import reason_text


async def capture(
    ledger: SimulatorLedger, request: CaptureRequest, *, now: datetime
) -> ProcessorResult:
    """priorAuthCapture: keeps the authorization's id; partial allowed."""
    target = await _locked_target(ledger, request.processor_transaction_id)
    verdict = capture_verdict(target, request.amount, request.currency, now=now)
    if verdict.proceeds:
        assert target is not None
        target.status = Status.CAPTURED_PENDING_SETTLEMENT
        target.settle_amount = target.amount if request.amount is None else request.amount
        target.pending_settlement_at = now
    amount = request.amount
    if amount is None and target is not None and verdict.outcome is Outcome.APPROVED:
        amount = target.settle_amount
    call = _Call(Kind.CAPTURE, request.reference, amount, request.currency)
    return await _answer(ledger, call, target, verdict, now)


async def void(ledger: SimulatorLedger, request: VoidRequest, *, now: datetime) -> ProcessorResult:
    """Keeps the transaction's id; only what has not settled."""
    target = await _locked_target(ledger, request.processor_transaction_id)
    verdict = void_verdict(target, now=now)
    if verdict.proceeds:
        assert target is not None
        target.status = Status.VOIDED
        target.voided_at = now
        target.settle_amount = 0  # nothing of it will settle
    call = _Call(Kind.VOID, request.reference, None, None)
    return await _answer(ledger, call, target, verdict, now)


async def refund(
    ledger: SimulatorLedger, request: RefundRequest, *, config: SimulatorConfig, now: datetime
) -> ProcessorResult:
    """A new transaction id, only against a settled charge."""
    call = _Call(Kind.REFUND, request.reference, request.amount, request.currency)
    window = DuplicateWindow(
        request.reference, (Kind.REFUND,), request.amount, request.currency, now - DUPLICATE_WINDOW
    )
    if await ledger.is_recent_duplicate(window):
        return await _answer(ledger, call, None, Verdict(Outcome.ERROR, DUPLICATE), now)
    target = await _locked_target(ledger, request.processor_transaction_id)
    verdict = refund_verdict(
        target,
        amount=request.amount,
        currency=request.currency,
        card_last4=request.card_last4,
        already_refunded=0 if target is None else await ledger.refunded_total(target.id),
        refund_window=config.refund_window,
        now=now,
    )
    made = None
    if verdict.proceeds:
        assert target is not None
        made = SimulatorTransaction(
            id=await ledger.new_transaction_id(),
            kind=Kind.REFUND,
            reference=request.reference,
            parent_id=target.id,
            payment_method_id=target.payment_method_id,
            status=Status.REFUND_PENDING_SETTLEMENT,
            amount=request.amount,
            settle_amount=request.amount,
            currency=request.currency,
            card_brand=target.card_brand,
            card_last4=target.card_last4,
            card_exp_month=target.card_exp_month,
            card_exp_year=target.card_exp_year,
            trigger_class=target.trigger_class,
            submitted_at=now,
            pending_settlement_at=now,
        )
        await ledger.add(made)
    return await _answer(ledger, call, made, verdict, now)


async def _locked_target(
    ledger: SimulatorLedger, processor_transaction_id: str
) -> SimulatorTransaction | None:
    transaction_id = parse_transaction_id(processor_transaction_id)
    if transaction_id is None:
        return None
    return await ledger.transaction(transaction_id, for_update=True)


@dataclass(frozen=True)
class _Call:
    operation: Kind
    reference: str
    amount: int | None
    currency: str | None


async def _answer(
    ledger: SimulatorLedger,
    call: _Call,
    target: SimulatorTransaction | None,
    verdict: Verdict,
    now: datetime,
) -> ProcessorResult:
    """Record the call and build its result. A refund's transaction is made only
    when approved, so `find_by_reference` finds only refunds that landed."""
    acted_on = target if verdict.outcome is Outcome.APPROVED else None
    await ledger.record_call(
        reference=call.reference,
        operation=call.operation,
        transaction=acted_on,
        amount=call.amount,
        currency=call.currency,
        outcome=verdict.outcome,
        reason_code=verdict.reason_code,
        now=now,
        already_done=verdict.already_done,
    )
    return ProcessorResult(
        outcome=verdict.outcome,
        processor_transaction_id=None if acted_on is None else str(acted_on.id),
        reason_code=verdict.reason_code,
        reason_text=reason_text(verdict.outcome, verdict.reason_code),
        auth_code=None if acted_on is None else acted_on.auth_code,
        already_done=verdict.already_done,
    )
