"""Wire types of the payments API (API.md "Payments" and "Money, cards, addresses, metadata").

Request bodies decode strictly (core.schemas.RequestBody): no unknown fields, no
"1500" for 1500. A card number is only ever matched against a pattern here, so
no error message can echo it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gateway.core.money import Amount, CurrencyCode
from gateway.core.openapi import one_of
from gateway.core.schemas import RequestBody
from gateway.payments.states import ChildStatus, ParentStatus, PendingReason, TransactionType
from gateway.vault.schemas import AddressIn, CardIn, CardOut, CustomerIn, CustomerOut

ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
MetadataValue = Annotated[str, msgspec.Meta(max_length=500)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=50)]
TransactionId = Annotated[
    str, msgspec.Meta(pattern=r"^txn_[0-9A-Z]{16}$", examples=["txn_01JH6M4Q8ZK2V3X9"])
]


class PaymentMethodIn(RequestBody):
    card: CardIn | None = None
    token: Annotated[str, msgspec.Meta(pattern=r"^pm_[0-9A-Z]{16}$")] | None = None

    def __post_init__(self) -> None:
        if (self.card is None) == (self.token is None):
            raise ValueError("give exactly one of card or token")


class ChargeIn(RequestBody):
    """POST /payments/purchase and /payments/authorize."""

    amount: Amount
    currency: CurrencyCode
    payment_method: PaymentMethodIn
    order_id: ShortText | None = None
    description: ShortText | None = None
    customer: CustomerIn | None = None
    billing_address: AddressIn | None = None
    metadata: Metadata | None = None


class CaptureIn(RequestBody):
    transaction_id: TransactionId
    amount: Amount | None = None


class RefundIn(RequestBody):
    transaction_id: TransactionId
    amount: Amount | None = None
    reason: ShortText | None = None


class CancelIn(RequestBody):
    transaction_id: TransactionId


# A purchase or authorization has a ParentStatus; a capture, refund or void a ChildStatus.
_STATUSES = sorted({status.value for status in ParentStatus} | {s.value for s in ChildStatus})
TransactionStatusText = Annotated[str, one_of(_STATUSES)]


class EventOut(msgspec.Struct):
    id: str
    sequence: int
    from_status: Annotated[str | None, one_of([*_STATUSES, None])]
    to_status: TransactionStatusText
    actor: str
    reason: str | None
    request_id: str | None
    created_at: datetime


class TransactionOut(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["transaction"] = "transaction"
    livemode: bool
    type: Annotated[str, one_of(TransactionType)]
    status: TransactionStatusText
    pending_reason: Annotated[str | None, one_of([*(r.value for r in PendingReason), None])]
    amount: int
    currency: str
    amount_captured: int
    amount_refunded: int
    parent_id: str | None
    order_id: str | None
    description: str | None
    customer: CustomerOut | None
    metadata: dict[str, str]
    card: CardOut | None
    processor: str
    processor_transaction_id: str | None
    auth_code: str | None
    avs_result: str | None
    cvv_result: str | None
    decline_code: str | None
    decline_reason: str | None
    reason: str | None
    subscription_id: str | None
    invoice_id: str | None
    settled_at: datetime | None
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TransactionDetailOut(TransactionOut, kw_only=True):
    """GET of one transaction: with its history (lists leave it out)."""

    events: list[EventOut]


class TransactionList(msgspec.Struct):
    data: list[TransactionOut]
    next_cursor: str | None
