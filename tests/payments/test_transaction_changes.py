"""TransactionService's typed changes, without HTTP: each writes the fields it names,
a failure records its FailureKind, and the answer a client gets is unchanged."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import Event
from gateway.audit.service import Actor
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.ids import new_id
from gateway.merchants.models import Merchant
from gateway.payments.changes import Failure, ProcessorFacts, failure_kind_of
from gateway.payments.errors import InvalidTransition
from gateway.payments.models import Transaction
from gateway.payments.operations import new_child
from gateway.payments.responses import PROCESSOR_UNAVAILABLE, response_for
from gateway.payments.rules import apply_approval, apply_capture
from gateway.payments.service import TransactionService, snapshot
from gateway.payments.states import (
    ChildStatus,
    FailureKind,
    ParentStatus,
    PendingReason,
    TransactionType,
    failed_status,
    is_parent,
)
from gateway.processors.port import Outcome, ProcessorResult

ACTOR = Actor(kind="api")


async def _open(
    service: TransactionService,
    merchant: Merchant,
    kind: TransactionType = TransactionType.PURCHASE,
) -> Transaction:
    transaction = Transaction(
        id=new_id("txn"),
        merchant_id=merchant.id,
        livemode=False,
        type=kind,
        status=ParentStatus.PENDING,
        pending_reason=PendingReason.UNKNOWN_OUTCOME,
        amount=1500,
        currency="USD",
        amount_captured=0,
        amount_refunded=0,
        metadata_={},
        processor="simulator",
    )
    return await service.open(transaction, ACTOR, action="payment.test")


async def _persisted(db_session: AsyncSession, transaction: Transaction) -> Transaction:
    await db_session.flush()
    await db_session.refresh(transaction)
    return transaction


async def _last_event(db_session: AsyncSession, transaction: Transaction) -> Event:
    events = await db_session.scalars(
        select(Event).where(Event.object_id == transaction.id).order_by(Event.sequence)
    )
    return list(events)[-1]


def _declined(
    code: str = "2", text: str = "This transaction has been declined."
) -> ProcessorResult:
    return ProcessorResult(
        outcome=Outcome.DECLINED,
        processor_transaction_id="60000000001",
        reason_code=code,
        reason_text=text,
        avs_result="Y",
        cvv_result="M",
    )


@pytest.mark.parametrize("kind", list(TransactionType))
@pytest.mark.parametrize("failure", list(FailureKind))
def test_only_a_decline_ends_declined(kind: TransactionType, failure: FailureKind) -> None:
    status = failed_status(kind, failure)
    assert type(status) is (ParentStatus if is_parent(kind) else ChildStatus)
    assert (status == "declined") is (failure is FailureKind.DECLINED)


@pytest.mark.parametrize("outcome", list(Outcome))
def test_only_refusals_are_failures(outcome: Outcome) -> None:
    if outcome in (Outcome.APPROVED, Outcome.HELD):
        with pytest.raises(ValueError, match="not a failure"):
            failure_kind_of(outcome)
    else:
        assert failure_kind_of(outcome) in (FailureKind.DECLINED, FailureKind.PROCESSOR_ERROR)


async def test_a_charge_that_never_left_records_not_sent_and_answers_503(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    service = TransactionService(db_session, clock)
    charge = await _open(service, merchant)
    await service.fail(charge, ACTOR, Failure.not_sent())
    stored = await _persisted(db_session, charge)
    assert (stored.status, stored.failure_kind) == (ParentStatus.FAILED, FailureKind.NOT_SENT)
    assert (stored.decline_reason, stored.pending_reason) == (PROCESSOR_UNAVAILABLE, None)
    assert stored.processor_transaction_id is None
    assert response_for(stored, field_crypto).status == 503
    assert (await _last_event(db_session, charge)).reason == PROCESSOR_UNAVAILABLE


async def test_a_decline_records_its_kind_the_processors_facts_and_answers_402(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    service = TransactionService(db_session, clock)
    charge = await _open(service, merchant)
    await service.fail(charge, ACTOR, Failure.answered(_declined()))
    stored = await _persisted(db_session, charge)
    assert (stored.status, stored.failure_kind) == (ParentStatus.DECLINED, FailureKind.DECLINED)
    assert (stored.decline_code, stored.decline_reason) == (
        "2",
        "This transaction has been declined.",
    )
    assert (stored.processor_transaction_id, stored.avs_result, stored.cvv_result) == (
        "60000000001",
        "Y",
        "M",
    )
    answer = response_for(stored, field_crypto)
    assert answer.status == 402
    assert json.loads(answer.body)["decline_reason"] == "This transaction has been declined."


async def test_a_processor_error_the_caller_knows_better_records_the_callers_kind(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    """Reconciliation's "not found at processor" is an error answer in form only."""
    service = TransactionService(db_session, clock)
    charge = await _open(service, merchant)
    result = ProcessorResult(
        outcome=Outcome.ERROR, processor_transaction_id=None, reason_text="not found at processor"
    )
    await service.fail(charge, ACTOR, Failure.answered(result, FailureKind.NOT_FOUND_AT_PROCESSOR))
    stored = await _persisted(db_session, charge)
    assert (stored.status, stored.failure_kind) == (
        ParentStatus.FAILED,
        FailureKind.NOT_FOUND_AT_PROCESSOR,
    )
    assert response_for(stored, field_crypto).status == 502


async def test_a_child_fails_in_the_childrens_vocabulary(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    service = TransactionService(db_session, clock)
    parent = await _open(service, merchant, TransactionType.AUTHORIZATION)
    await service.approve(
        parent,
        apply_approval(snapshot(parent)),
        ACTOR,
        facts=ProcessorFacts("60000000002"),
        expires_at=None,
    )
    child = await service.open(
        new_child(parent, TransactionType.CAPTURE, 1500), ACTOR, action="payment.capture"
    )
    await service.fail(child, ACTOR, Failure.answered(_declined()))
    stored = await _persisted(db_session, child)
    assert (stored.status, stored.failure_kind) == (ChildStatus.DECLINED, FailureKind.DECLINED)


async def test_an_approval_writes_the_rules_state_and_the_processors_facts(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    service = TransactionService(db_session, clock)
    authorization = await _open(service, merchant, TransactionType.AUTHORIZATION)
    expires_at = clock.now() + timedelta(days=7)
    await service.approve(
        authorization,
        apply_approval(snapshot(authorization)),
        ACTOR,
        facts=ProcessorFacts("60000000003", auth_code="ABC123"),
        expires_at=expires_at,
    )
    stored = await _persisted(db_session, authorization)
    assert (stored.status, stored.pending_reason, stored.failure_kind) == (
        ParentStatus.AUTHORIZED,
        None,
        None,
    )
    assert (stored.processor_transaction_id, stored.auth_code) == ("60000000003", "ABC123")
    assert stored.expires_at == expires_at

    await service.apply(stored, apply_capture(snapshot(stored), 1000), ACTOR, reason="captured")
    captured = await _persisted(db_session, stored)
    assert (captured.status, captured.amount_captured) == (ParentStatus.CAPTURED, 1000)
    assert captured.expires_at == expires_at  # the state carried it unchanged


async def test_a_state_is_applied_only_to_its_own_transaction(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    service = TransactionService(db_session, clock)
    one, other = await _open(service, merchant), await _open(service, merchant)
    with pytest.raises(ValueError, match="applied to"):
        await service.apply(other, apply_approval(snapshot(one)), ACTOR)


async def test_the_sweeps_bookkeeping_has_a_method_each(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    service = TransactionService(db_session, clock)
    charge = await _open(service, merchant)
    later = clock.now() + timedelta(minutes=2)
    assert await service.postpone_reconciliation(charge, until=later) == 1
    assert await service.postpone_reconciliation(charge, until=later) == 2
    await service.keep_pending(
        charge, PendingReason.PROCESSOR_REVIEW, ACTOR, facts=ProcessorFacts("60000000004")
    )
    stored = await _persisted(db_session, charge)
    assert (stored.reconcile_attempts, stored.next_reconcile_at) == (2, later)
    assert (stored.pending_reason, stored.processor_transaction_id) == (
        PendingReason.PROCESSOR_REVIEW,
        "60000000004",
    )
    await service.reconciled(stored)
    await service.mark_orphan(stored, since=clock.now())
    await service.link_to_invoice(stored, subscription_id="sub_1", invoice_id="inv_1")
    stored = await _persisted(db_session, stored)
    assert (stored.next_reconcile_at, stored.orphan_since) == (None, clock.now())
    assert (stored.subscription_id, stored.invoice_id) == ("sub_1", "inv_1")
    await service.clear_orphan(stored)
    assert (await _persisted(db_session, stored)).orphan_since is None


async def test_a_move_the_table_forbids_writes_nothing(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    service = TransactionService(db_session, clock)
    charge = await _open(service, merchant)
    await service.approve(
        charge, apply_approval(snapshot(charge)), ACTOR, facts=ProcessorFacts("60000000005"),
        expires_at=None,
    )  # fmt: skip
    with pytest.raises(InvalidTransition):
        await service.fail(charge, ACTOR, Failure.answered(_declined()))
    assert (charge.status, charge.failure_kind, charge.decline_reason) == (
        ParentStatus.CAPTURED,
        None,
        None,
    )
    assert charge.processor_transaction_id == "60000000005"


async def test_a_new_pending_reason_is_an_event_of_its_own_and_the_same_one_again_is_not(
    db_session: AsyncSession, merchant: Merchant, clock: FrozenClock
) -> None:
    service = TransactionService(db_session, clock)
    charge = await _open(service, merchant)
    await service.keep_pending(charge, PendingReason.UNKNOWN_OUTCOME, ACTOR)
    await service.keep_pending(charge, PendingReason.UNKNOWN_OUTCOME, ACTOR)
    await service.keep_pending(charge, PendingReason.PROCESSOR_REVIEW, ACTOR)
    events = await service.events(charge)
    assert [(e.from_status, e.to_status, e.occasion) for e in events] == [
        (None, "pending", None),
        ("pending", "pending", "unknown_outcome"),
        ("pending", "pending", "processor_review"),
    ]
