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
from gateway.core.schemas import RequestBody

ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
MetadataKey = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
MetadataValue = Annotated[str, msgspec.Meta(max_length=500)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], msgspec.Meta(max_length=50)]
TransactionId = Annotated[str, msgspec.Meta(pattern=r"^txn_[0-9A-Z]{16}$")]

# Authorize.Net's limits (ANET.md §1) bound what a merchant may send.
ADDRESS_LINES_MAX = 60


class CardIn(RequestBody):
    number: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{12,19}$", description="Digits only.")]
    exp_month: Annotated[int, msgspec.Meta(ge=1, le=12)]
    exp_year: Annotated[int, msgspec.Meta(ge=2000, le=2099)]
    cvv: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{3,4}$")]
    holder_name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] | None = None


class PaymentMethodIn(RequestBody):
    card: CardIn | None = None
    token: Annotated[str, msgspec.Meta(pattern=r"^pm_[0-9A-Z]{16}$")] | None = None

    def __post_init__(self) -> None:
        if (self.card is None) == (self.token is None):
            raise ValueError("give exactly one of card or token")


class CustomerIn(RequestBody):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=20)] | None = None
    email: (
        Annotated[str, msgspec.Meta(max_length=255, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None
    ) = None


class AddressIn(RequestBody):
    line1: Annotated[str, msgspec.Meta(min_length=1, max_length=ADDRESS_LINES_MAX)]
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    line2: Annotated[str, msgspec.Meta(min_length=1, max_length=ADDRESS_LINES_MAX)] | None = None
    state: Annotated[str, msgspec.Meta(min_length=1, max_length=40)] | None = None

    def __post_init__(self) -> None:
        if len(self.line1) + len(self.line2 or "") > ADDRESS_LINES_MAX:
            raise ValueError(f"line1 and line2 together are at most {ADDRESS_LINES_MAX} characters")


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


class CardOut(msgspec.Struct):
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None


class CustomerOut(msgspec.Struct):
    id: str | None
    email: str | None


class EventOut(msgspec.Struct):
    id: str
    sequence: int
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    request_id: str | None
    created_at: datetime


class TransactionOut(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["transaction"] = "transaction"
    livemode: bool
    type: str
    status: str
    pending_reason: str | None
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
