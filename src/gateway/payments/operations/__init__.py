"""The money-moving requests as money-runner operations (DESIGN.md invariant 4).

Each reserves in phase 1 (rules checked under the parent's row lock, the pending
transaction written, then the breaker's permit taken), calls the processor in
phase 2 with no session open, and writes the outcome in phase 3.

- `phases`: the context, the reservation and the call's outcome;
- `charges`: purchase and authorization, and the stored-card entry point;
- `children`: capture, refund and cancel.
"""

from gateway.payments.operations.charges import (
    ChargeFinalizer,
    ChargeOperation,
    Links,
    StoredCardCharge,
    stored_card_purchase,
)
from gateway.payments.operations.children import (
    CancelOperation,
    CaptureOperation,
    RefundOperation,
    new_child,
)
from gateway.payments.operations.phases import CallResult, Context, Reserved, call_processor

__all__ = [
    "CallResult",
    "CancelOperation",
    "CaptureOperation",
    "ChargeFinalizer",
    "ChargeOperation",
    "Context",
    "Links",
    "RefundOperation",
    "Reserved",
    "StoredCardCharge",
    "call_processor",
    "new_child",
    "stored_card_purchase",
]
