"""A purchase or an authorization, from the request to the recorded answer.

Order, as a processor would meet them: the currency, the card or token, then
what decides the outcome (a script step, else the triggers), then the duplicate
window; a decision of "not sent" or "lost before recording" leaves before the
ledger is touched, so nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from gateway.core.money import is_supported
from gateway.processors.port import (
    ChargeRequest,
    NotSentError,
    Outcome,
    OutcomeUnknownError,
    ProcessorResult,
)
from gateway.processors.simulator.config import DUPLICATE_WINDOW, SimulatorConfig
from gateway.processors.simulator.identifiers import auth_code_for, parse_token
from gateway.processors.simulator.instruments import (
    PROFILE_NOT_FOUND,
    Instrument,
    Refusal,
    card_instrument,
    stored_instrument,
)
from gateway.processors.simulator.ledger import DuplicateWindow, SimulatorLedger
from gateway.processors.simulator.models import SimulatorTransaction
from gateway.processors.simulator.rules import (
    CURRENCY_NOT_ACCEPTED,
    DUPLICATE,
    HELD_STATUS_BY_REASON,
    Kind,
    Status,
)
from gateway.processors.simulator.triggers import (
    GENERAL_DECLINE,
    ChargeFacts,
    Decision,
    Delivery,
    decide_charge,
    reason_text,
    script_step,
)

CHARGE_KINDS: Final = (Kind.PURCHASE, Kind.AUTHORIZATION)


@dataclass(frozen=True)
class ChargeAnswer:
    result: ProcessorResult
    lost: bool = False  # recorded, but the caller must see a read timeout
    row: SimulatorTransaction | None = None  # the transaction it made, if any


async def take_charge(
    ledger: SimulatorLedger,
    request: ChargeRequest,
    kind: Kind,
    *,
    config: SimulatorConfig,
    now: datetime,
    random_decline: Callable[[], bool],
) -> ChargeAnswer:
    """Decide and record one charge. Raises NotSentError or OutcomeUnknownError
    for the triggers that lose the call before anything is recorded."""
    if not is_supported(request.currency):
        return await _refuse(
            ledger, request, kind, Refusal(Outcome.ERROR, CURRENCY_NOT_ACCEPTED), now
        )
    instrument = await _instrument(ledger, request, now)
    if isinstance(instrument, Refusal):
        return await _refuse(ledger, request, kind, instrument, now)
    postal_code = request.billing_address.postal_code if request.billing_address else None
    cvv = request.card.cvv if request.card is not None else request.cvv
    step = None
    if instrument.payment_method_id is not None:
        step = await ledger.next_script_step(instrument.payment_method_id)
    if step is not None:
        decision = script_step(step.action, step.reason_code).decide(
            postal_code=postal_code, cvv=cvv
        )
    else:
        facts = ChargeFacts(
            trigger_class=instrument.trigger_class,
            amount=request.amount,
            currency=request.currency,
            postal_code=postal_code,
            cvv=cvv,
            card_expired=instrument.expired,
        )
        decision = decide_charge(facts, cvv_filter=config.cvv_filter)
    if decision.delivery is Delivery.NOT_SENT:
        raise NotSentError("simulated connection refused")
    if decision.delivery is Delivery.LOST_UNRECORDED:
        raise OutcomeUnknownError("simulated read timeout: nothing was recorded")
    window = DuplicateWindow(
        request.reference, CHARGE_KINDS, request.amount, request.currency, now - DUPLICATE_WINDOW
    )
    duplicate, transaction_id = await ledger.duplicate_and_next_id(window)
    if duplicate:
        return await _refuse(ledger, request, kind, Refusal(Outcome.ERROR, DUPLICATE), now)
    if step is not None:
        step.consumed_at = now
    elif decision.outcome is Outcome.APPROVED and random_decline():
        decision = replace(decision, outcome=Outcome.DECLINED, reason_code=GENERAL_DECLINE)
    row = None
    if decision.outcome is not Outcome.ERROR:
        row = _transaction_row(request, kind, instrument, decision, config=config, now=now)
        row.id = transaction_id
        if decision.outcome is Outcome.APPROVED:
            row.auth_code = auth_code_for(row.id)
        await ledger.insert(row)  # never changed again in this session
    lost = decision.delivery is Delivery.LOST_AFTER_RECORDING
    await ledger.record_call(
        reference=request.reference,
        operation=kind,
        transaction=row,
        amount=request.amount,
        currency=request.currency,
        outcome=decision.outcome,
        reason_code=decision.reason_code,
        now=now,
        response_lost=lost,
    )
    result = ProcessorResult(
        outcome=decision.outcome,
        processor_transaction_id=None if row is None else str(row.id),
        reason_code=decision.reason_code,
        reason_text=reason_text(decision.outcome, decision.reason_code),
        auth_code=None if row is None else row.auth_code,
        avs_result=decision.avs_result,
        cvv_result=decision.cvv_result,
    )
    return ChargeAnswer(result, lost=lost, row=row)


async def _instrument(
    ledger: SimulatorLedger, request: ChargeRequest, now: datetime
) -> Instrument | Refusal:
    if request.card is not None:
        return card_instrument(request.card, now=now)
    assert request.token is not None  # a ChargeRequest holds exactly one of them
    ids = parse_token(request.token)
    method = None if ids is None else await ledger.payment_method(*ids)
    if method is None:
        return Refusal(Outcome.ERROR, PROFILE_NOT_FOUND)
    return stored_instrument(method, now=now)


async def _refuse(
    ledger: SimulatorLedger, request: ChargeRequest, kind: Kind, refusal: Refusal, now: datetime
) -> ChargeAnswer:
    await ledger.record_call(
        reference=request.reference,
        operation=kind,
        transaction=None,
        amount=request.amount,
        currency=request.currency,
        outcome=refusal.outcome,
        reason_code=refusal.reason_code,
        now=now,
    )
    return ChargeAnswer(
        ProcessorResult(
            outcome=refusal.outcome,
            processor_transaction_id=None,
            reason_code=refusal.reason_code,
            reason_text=reason_text(refusal.outcome, refusal.reason_code),
        )
    )


def _transaction_row(
    request: ChargeRequest,
    kind: Kind,
    instrument: Instrument,
    decision: Decision,
    *,
    config: SimulatorConfig,
    now: datetime,
) -> SimulatorTransaction:
    # Held charges count as taken: a review approval only changes their status.
    taken = decision.outcome in (Outcome.APPROVED, Outcome.HELD)
    if decision.outcome is Outcome.HELD:
        assert decision.reason_code is not None
        status = HELD_STATUS_BY_REASON[decision.reason_code]
    elif decision.outcome is Outcome.DECLINED:
        status = Status.DECLINED
    elif kind is Kind.PURCHASE:
        status = Status.CAPTURED_PENDING_SETTLEMENT
    else:
        status = Status.AUTHORIZED_PENDING_CAPTURE
    approved_purchase = kind is Kind.PURCHASE and decision.outcome is Outcome.APPROVED
    return SimulatorTransaction(
        kind=kind,
        reference=request.reference,
        payment_method_id=instrument.payment_method_id,
        status=status,
        reason_code=decision.reason_code,
        avs_result=decision.avs_result,
        cvv_result=decision.cvv_result,
        amount=request.amount,
        settle_amount=request.amount if taken and kind is Kind.PURCHASE else 0,
        currency=request.currency,
        card_brand=instrument.brand,
        card_last4=instrument.last4,
        card_exp_month=instrument.exp_month,
        card_exp_year=instrument.exp_year,
        trigger_class=instrument.trigger_class,
        submitted_at=now,
        pending_settlement_at=now if approved_purchase else None,
        expires_at=now + config.auth_expiry if taken and kind is Kind.AUTHORIZATION else None,
    )
