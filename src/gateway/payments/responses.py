"""What a transaction looks like on the wire, and which answer its state gives.

`response_for` is the one place that maps a transaction's state to an HTTP
answer, used when a request finishes and when a stored 202 is replayed (API.md:
rebuilt from the transaction's current state).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from gateway.audit.models import Event
from gateway.core.card_fingerprints import shown_fingerprint
from gateway.core.crypto import FieldCrypto
from gateway.core.problems import problem_document
from gateway.idempotency.store import StoredResponse
from gateway.payments.models import Transaction
from gateway.payments.schemas import (
    EventOut,
    TransactionDetailOut,
    TransactionOut,
)
from gateway.payments.states import ChildStatus, FailureKind, ParentStatus, TransactionType
from gateway.vault.schemas import CardOut, CustomerOut

# decline_reason of an attempt that never reached the processor (API.md 503).
PROCESSOR_UNAVAILABLE = "processor unavailable"


def _fields(transaction: Transaction, crypto: FieldCrypto) -> dict[str, object]:
    email = crypto.open(
        transaction.customer_email_encrypted,
        table=Transaction.__tablename__,
        column="customer_email",
        row_id=transaction.id,
    )
    card = (
        CardOut(
            brand=transaction.card_brand,
            last4=transaction.card_last4 or "",
            exp_month=transaction.card_exp_month or 0,
            exp_year=transaction.card_exp_year or 0,
            fingerprint=shown_fingerprint(crypto.fingerprints, transaction),
        )
        if transaction.card_brand
        else None
    )
    customer = (
        CustomerOut(id=transaction.customer_id, email=email)
        if transaction.customer_id or email
        else None
    )
    return {
        "id": transaction.id,
        "livemode": transaction.livemode,
        "type": transaction.type,
        "status": transaction.status,
        "pending_reason": transaction.pending_reason,
        "amount": transaction.amount,
        "currency": transaction.currency,
        "amount_captured": transaction.amount_captured,
        "amount_refunded": transaction.amount_refunded,
        "parent_id": transaction.parent_id,
        "order_id": transaction.order_id,
        "description": transaction.description,
        "customer": customer,
        "metadata": dict(transaction.metadata_ or {}),
        "card": card,
        "processor": transaction.processor,
        "processor_transaction_id": transaction.processor_transaction_id,
        "auth_code": transaction.auth_code,
        "avs_result": transaction.avs_result,
        "cvv_result": transaction.cvv_result,
        "decline_code": transaction.decline_code,
        "decline_reason": transaction.decline_reason,
        "reason": transaction.reason,
        "subscription_id": transaction.subscription_id,
        "invoice_id": transaction.invoice_id,
        "settled_at": transaction.settled_at,
        "expires_at": transaction.expires_at,
        "created_at": transaction.created_at,
        "updated_at": transaction.updated_at,
    }


def transaction_out(transaction: Transaction, crypto: FieldCrypto) -> TransactionOut:
    return TransactionOut(**_fields(transaction, crypto))  # type: ignore[arg-type]


def transaction_detail(
    transaction: Transaction, events: Sequence[Event], crypto: FieldCrypto
) -> TransactionDetailOut:
    return TransactionDetailOut(
        **_fields(transaction, crypto),  # type: ignore[arg-type]
        events=[
            EventOut(
                id=event.id,
                sequence=event.sequence,
                from_status=event.from_status,
                to_status=event.to_status,
                actor=event.actor,
                reason=event.reason,
                request_id=event.request_id,
                created_at=event.created_at,
            )
            for event in events
        ],
    )


def _sentence(reason: str | None) -> str:
    return (reason or "no reason given").rstrip(".") + "."


def _json(status: int, body: object) -> StoredResponse:
    return StoredResponse(status=status, body=msgspec.json.encode(body))


def _declined(transaction: Transaction) -> StoredResponse:
    return _json(
        402,
        problem_document(
            code="card_declined",
            detail=f"The card was declined: {_sentence(transaction.decline_reason)}",
            extra={
                "transaction_id": transaction.id,
                "decline_code": transaction.decline_code,
                "decline_reason": transaction.decline_reason,
            },
        ),
    )


def _failed(transaction: Transaction) -> StoredResponse:
    if transaction.failure_kind == FailureKind.NOT_SENT:
        return _json(
            503,
            problem_document(
                code="processor_unavailable",
                detail="The processor could not be reached; nothing was charged. Retry later.",
                extra={"transaction_id": transaction.id},
            ),
        )
    return _json(
        502,
        problem_document(
            code="processor_error",
            detail=f"The processor reported an error: {_sentence(transaction.decline_reason)}",
            extra={"transaction_id": transaction.id, "decline_code": transaction.decline_code},
        ),
    )


def response_for(
    transaction: Transaction, crypto: FieldCrypto, *, parent: Transaction | None = None
) -> StoredResponse:
    """The answer a request about `transaction` gets now. For a cancel, the void
    child is `transaction` and its success answers with the `parent` (200)."""
    status = transaction.status
    if status == ParentStatus.PENDING:  # the same word for children
        return _json(202, transaction_out(transaction, crypto))
    if status == ParentStatus.DECLINED:
        return _declined(transaction)
    if status == ParentStatus.FAILED:
        return _failed(transaction)
    if transaction.type == TransactionType.VOID and status == ChildStatus.SUCCEEDED:
        assert parent is not None, "a cancel answers with the transaction it cancelled"
        return _json(200, transaction_out(parent, crypto))
    return _json(201, transaction_out(transaction, crypto))
