"""Reconciliation: asking the processor what became of transactions left pending.

- `dispatch`: what a processor's report makes of each kind of transaction;
- `lookup`: where the processor shows each kind (by reference, or through the parent);
- `service`: the batch, its claims and answers, and the pass through the money runner.
"""

from gateway.payments.reconciliation.dispatch import (
    ACTOR,
    BATCH_SIZE,
    CAPTURED_STATUSES,
    NOT_FOUND_REASON,
    REFUNDED_STATUSES,
    VOIDED_STATUSES,
    Sighting,
    VoidOrigin,
    backoff,
    charge_result,
    child_result,
    finalizer_for,
    parent_result,
    processor_result,
    void_origin,
)
from gateway.payments.reconciliation.lookup import look_up
from gateway.payments.reconciliation.service import (
    Batch,
    ReconcileSummary,
    ReconciliationService,
    reconcile_pass,
)

__all__ = [
    "ACTOR",
    "BATCH_SIZE",
    "CAPTURED_STATUSES",
    "NOT_FOUND_REASON",
    "REFUNDED_STATUSES",
    "VOIDED_STATUSES",
    "Batch",
    "ReconcileSummary",
    "ReconciliationService",
    "Sighting",
    "VoidOrigin",
    "backoff",
    "charge_result",
    "child_result",
    "finalizer_for",
    "look_up",
    "parent_result",
    "processor_result",
    "reconcile_pass",
    "void_origin",
]
