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
    VoidOrigin,
    finalizer_for,
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
