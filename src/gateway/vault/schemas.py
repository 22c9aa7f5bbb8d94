"""Wire types of cards, customers and addresses (API.md "Money, cards, addresses,
metadata"), and of the payment methods API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from gateway.core.card_numbers import BRANDS
from gateway.core.openapi import one_of
from gateway.core.schemas import RequestBody

# Authorize.Net's limits (ANET.md §1) bound what a merchant may send.
ADDRESS_LINES_MAX = 60


class CardIn(RequestBody):
    card_data = frozenset({"number"})

    number: Annotated[
        str,
        msgspec.Meta(
            pattern=r"^[0-9]{12,19}$", description="Digits only.", examples=["4111111111111111"]
        ),
    ]
    exp_month: Annotated[int, msgspec.Meta(ge=1, le=12, examples=[12])]
    exp_year: Annotated[int, msgspec.Meta(ge=2000, le=2099, examples=[2030])]
    cvv: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{3,4}$", examples=["123"])]
    holder_name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] | None = None


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


class CardOut(msgspec.Struct):
    brand: Annotated[str, one_of(BRANDS)]
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str | None


class CustomerOut(msgspec.Struct):
    id: str | None
    email: str | None


class AddressOut(msgspec.Struct):
    line1: str
    line2: str | None
    city: str
    state: str | None
    postal_code: str
    country: str


class NewPaymentMethod(RequestBody):
    """POST /payment-methods."""

    card: CardIn
    customer: CustomerIn | None = None
    billing_address: AddressIn | None = None


class PaymentMethodOut(msgspec.Struct, kw_only=True):
    id: str
    object: Literal["payment_method"] = "payment_method"
    livemode: bool
    card: CardOut
    customer: CustomerOut | None
    billing_address: AddressOut | None
    created_at: datetime


class PaymentMethodList(msgspec.Struct):
    data: list[PaymentMethodOut]
    next_cursor: str | None
