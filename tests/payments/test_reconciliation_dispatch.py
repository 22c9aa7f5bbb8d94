"""Reconciliation finishes every transaction type with the phase-3 code the API
would have run, chosen by type (and a void by who started it), never by text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.payments.models import Transaction
from gateway.payments.operations import (
    CancelOperation,
    CaptureOperation,
    ChargeFinalizer,
    RefundOperation,
)
from gateway.payments.reconciliation import (
    Sighting,
    VoidOrigin,
    finalizer_for,
    parent_result,
    processor_result,
    void_origin,
)
from gateway.payments.states import TransactionType, is_parent
from gateway.payments.sweeps.compensation import CompensationVoid
from gateway.payments.sweeps.expiry import ExpiryVoid
from gateway.processors.port import Outcome, ProcessorTransaction
from tests.payments.conftest import Sweeps

EXPECTED = {
    TransactionType.PURCHASE: ChargeFinalizer,
    TransactionType.AUTHORIZATION: ChargeFinalizer,
    TransactionType.CAPTURE: CaptureOperation,
    TransactionType.REFUND: RefundOperation,
    TransactionType.VOID: CancelOperation,
}
# What the processor shows once a call of each type went through.
LANDED = {
    TransactionType.PURCHASE: "capturedPendingSettlement",
    TransactionType.AUTHORIZATION: "authorizedPendingCapture",
    TransactionType.CAPTURE: "capturedPendingSettlement",
    TransactionType.REFUND: "refundPendingSettlement",
    TransactionType.VOID: "voided",
}


def _row(kind: TransactionType, reason: str | None = None) -> Transaction:
    return Transaction(
        id="txn_0000000000000001",
        merchant_id="mer_0000000000000001",
        livemode=False,
        type=kind,
        status="pending",
        parent_id=None if is_parent(kind) else "txn_0000000000000000",
        reason=reason,
    )


def _record(kind: TransactionType, status: str) -> ProcessorTransaction:
    return ProcessorTransaction(
        processor_transaction_id="60000000001",
        reference="txn_0000000000000001",
        kind=kind,
        status=status,
        amount=1500,
        settled_amount=0,
        currency="USD",
        reason_code=None,
        auth_code=None,
        submitted_at=datetime(2026, 12, 1, tzinfo=UTC),
        settled_at=None,
    )


def test_every_type_has_a_finalizer_and_a_landed_status() -> None:
    assert set(EXPECTED) == set(TransactionType) == set(LANDED)


@pytest.mark.parametrize("kind", list(TransactionType))
def test_each_type_is_finished_by_its_own_phase_3(kind: TransactionType, sweeps: Sweeps) -> None:
    finalizer = finalizer_for(_row(kind), sweeps.context("mer_0000000000000001"), sweeps.clock)
    assert type(finalizer) is EXPECTED[kind]


@pytest.mark.parametrize("kind", list(TransactionType))
def test_each_types_record_reads_as_the_answer_it_would_have_had(kind: TransactionType) -> None:
    result = processor_result(kind, _record(kind, LANDED[kind]))
    assert result is not None
    assert result.outcome is Outcome.APPROVED
    declined = processor_result(kind, _record(kind, "declined"))
    assert declined is not None
    assert declined.outcome is Outcome.DECLINED


@pytest.mark.parametrize(
    ("reason", "origin", "operation"),
    [
        (None, VoidOrigin.MERCHANT, CancelOperation),
        (ExpiryVoid.child_reason, VoidOrigin.EXPIRY, ExpiryVoid),
        (CompensationVoid.child_reason, VoidOrigin.COMPENSATION, CompensationVoid),
        ("made at the processor", VoidOrigin.MERCHANT, CancelOperation),
    ],
)
def test_a_void_is_finished_the_way_its_starter_would(
    reason: str | None, origin: VoidOrigin, operation: type[CancelOperation], sweeps: Sweeps
) -> None:
    void = _row(TransactionType.VOID, reason)
    assert void_origin(void) is origin
    finalizer = finalizer_for(void, sweeps.context("mer_0000000000000001"), sweeps.clock)
    assert type(finalizer) is operation


def test_every_void_origin_is_reachable() -> None:
    reasons = (None, ExpiryVoid.child_reason, CompensationVoid.child_reason)
    origins = {void_origin(_row(TransactionType.VOID, reason)) for reason in reasons}
    assert origins == set(VoidOrigin)


# What the parent's record shows once a call that keeps its transId went through,
# and what it shows when the call did not land: the parent unchanged, or ended its
# own way (its own decline is never read as the call's).
LANDED_ON_THE_PARENT = {
    TransactionType.CAPTURE: "capturedPendingSettlement",
    TransactionType.REFUND: "voided",  # a full refund before settlement is sent as a void
    TransactionType.VOID: "voided",
}
NOT_LANDED_ON_THE_PARENT = {
    TransactionType.CAPTURE: ("authorizedPendingCapture", "declined", "expired", "voided"),
    TransactionType.REFUND: ("capturedPendingSettlement", "settledSuccessfully", "declined"),
    TransactionType.VOID: ("authorizedPendingCapture", "settledSuccessfully", "declined"),
}


@pytest.mark.parametrize("kind", list(LANDED_ON_THE_PARENT))
def test_a_call_that_keeps_its_parents_id_is_read_from_the_parents_record(
    kind: TransactionType,
) -> None:
    parent = _record(TransactionType.AUTHORIZATION, LANDED_ON_THE_PARENT[kind])
    result = parent_result(kind, parent)
    assert result is not None
    assert result.outcome is Outcome.APPROVED
    assert result.processor_transaction_id == parent.processor_transaction_id
    for status in NOT_LANDED_ON_THE_PARENT[kind]:
        assert parent_result(kind, _record(TransactionType.AUTHORIZATION, status)) is None


def test_only_a_refund_seen_through_its_parent_landed_as_a_void() -> None:
    voided = _record(TransactionType.PURCHASE, "voided")
    through = Sighting(voided, through_parent=True)
    assert through.as_void(TransactionType.REFUND)
    assert not Sighting(_record(TransactionType.REFUND, "refundPendingSettlement")).as_void(
        TransactionType.REFUND
    )
    assert not through.as_void(TransactionType.VOID)
    # A refund's own record that says voided is a refund voided, not one that landed.
    assert (
        Sighting(_record(TransactionType.REFUND, "voided")).result(TransactionType.REFUND) is None
    )


def test_a_record_a_webhook_brings_for_a_child_is_its_parents_unless_a_refunds() -> None:
    purchase = _record(TransactionType.PURCHASE, "voided")
    refund = _record(TransactionType.REFUND, "refundPendingSettlement")
    assert Sighting.of_record(TransactionType.VOID, purchase).through_parent
    assert Sighting.of_record(TransactionType.REFUND, purchase).through_parent
    assert not Sighting.of_record(TransactionType.REFUND, refund).through_parent
    assert not Sighting.of_record(TransactionType.PURCHASE, purchase).through_parent
