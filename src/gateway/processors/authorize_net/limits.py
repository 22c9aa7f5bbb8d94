"""Authorize.Net's field limits (ANET.md §1, the XSD's maxLength facets),
enforced before anything is sent.

Authorize.Net answers a field over its limit with `E00003` at run time, after
the gateway has committed to a call; checking here turns it into a 400 naming
the caller's field (API.md's names), before phase 2 ever reaches the wire. An
account settles in one currency, so live mode accepts only the configured ones.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from gateway.core.errors import ValidationFailed
from gateway.core.money import exponent
from gateway.processors.port import (
    Address,
    CaptureRequest,
    Card,
    ChargeRequest,
    RefundRequest,
    TokenizeRequest,
    VoidRequest,
)

REF_ID_MAX: Final = 20  # refId, order.invoiceNumber
DESCRIPTION_MAX: Final = 255  # order.description
CUSTOMER_ID_MAX: Final = 20  # customer.id, profile.merchantCustomerId
EMAIL_MAX: Final = 255  # customer.email, profile.email
NAME_MAX: Final = 50  # billTo.firstName, billTo.lastName
ADDRESS_MAX: Final = 60  # billTo.address
CITY_MAX: Final = 40  # billTo.city
STATE_MAX: Final = 40  # billTo.state
ZIP_MAX: Final = 20  # billTo.zip
COUNTRY_MAX: Final = 60  # billTo.country
CARD_NUMBER_LENGTHS: Final = range(13, 17)  # creditCard.cardNumber: at most 16
CARD_CODE_LENGTHS: Final = range(3, 5)  # cardCode: 3 or 4 digits


def check_charge(request: ChargeRequest, *, accepted_currencies: Collection[str]) -> None:
    check_reference(request.reference)
    check_currency(request.currency, accepted_currencies)
    if request.card is not None:
        check_card(request.card)
    if request.cvv is not None:
        _check_card_code(request.cvv, "cvv")
    _check_length(request.description, DESCRIPTION_MAX, "description")
    _check_length(request.customer_id, CUSTOMER_ID_MAX, "customer.id")
    _check_length(request.customer_email, EMAIL_MAX, "customer.email")
    if request.billing_address is not None:
        check_address(request.billing_address)


def check_capture(request: CaptureRequest, *, accepted_currencies: Collection[str]) -> None:
    check_reference(request.reference)
    check_currency(request.currency, accepted_currencies)
    check_transaction_id(request.processor_transaction_id)


def check_refund(request: RefundRequest, *, accepted_currencies: Collection[str]) -> None:
    check_reference(request.reference)
    check_currency(request.currency, accepted_currencies)
    check_transaction_id(request.processor_transaction_id)
    if len(request.card_last4) != 4 or not request.card_last4.isdigit():
        raise ValidationFailed.for_field("card_last4", "must be the card's last 4 digits")


def check_void(request: VoidRequest) -> None:
    check_reference(request.reference)
    check_transaction_id(request.processor_transaction_id)


def check_tokenize(request: TokenizeRequest) -> None:
    # The pm_ id is the profile's merchantCustomerId as well as the refId.
    check_reference(request.reference)
    _check_length(request.reference, CUSTOMER_ID_MAX, "reference")
    check_card(request.card)
    _check_length(request.customer_email, EMAIL_MAX, "customer.email")
    if request.billing_address is not None:
        check_address(request.billing_address)


def check_reference(reference: str) -> None:
    if not reference:
        raise ValidationFailed.for_field("reference", "is required")
    _check_length(reference, REF_ID_MAX, "reference")


def is_transaction_id(transaction_id: str) -> bool:
    # numericString in the XSD: anything else is E00003 at run time.
    return transaction_id.isascii() and transaction_id.isdigit()


def check_transaction_id(transaction_id: str, field: str = "processor_transaction_id") -> None:
    if not is_transaction_id(transaction_id):
        raise ValidationFailed.for_field(field, "must be an Authorize.Net transaction id")


def check_currency(currency: str, accepted_currencies: Collection[str]) -> None:
    exponent(currency)  # an unsupported currency is a 400 naming "currency"
    if currency not in accepted_currencies:
        accepted = ", ".join(sorted(accepted_currencies)) or "none"
        raise ValidationFailed.for_field(
            "currency", f"live mode accepts only {accepted} on this deployment"
        )


def check_card(card: Card) -> None:
    number = card.number
    if not (number.isascii() and number.isdigit()) or len(number) not in CARD_NUMBER_LENGTHS:
        raise ValidationFailed.for_field(
            "card.number", "Authorize.Net accepts card numbers of 13 to 16 digits"
        )
    if not 1 <= card.exp_month <= 12:
        raise ValidationFailed.for_field("card.exp_month", "must be 1 to 12")
    if not 1000 <= card.exp_year <= 9999:
        raise ValidationFailed.for_field("card.exp_year", "must have 4 digits")
    if card.cvv is not None:
        _check_card_code(card.cvv, "card.cvv")
    if card.holder_name is not None:
        first, last = split_name(card.holder_name)
        _check_length(first, NAME_MAX, "card.holder_name")
        _check_length(last, NAME_MAX, "card.holder_name")


def check_address(address: Address) -> None:
    _check_length(address_line(address), ADDRESS_MAX, "billing_address.line1")
    _check_length(address.city, CITY_MAX, "billing_address.city")
    _check_length(address.state, STATE_MAX, "billing_address.state")
    _check_length(address.postal_code, ZIP_MAX, "billing_address.postal_code")
    _check_length(address.country, COUNTRY_MAX, "billing_address.country")


def check_page(limit: int, page: int) -> None:
    # Paging in the XSD: limit 1-1000, offset (a page number) 1-100000.
    if not 1 <= limit <= 1000:
        raise ValidationFailed.for_field("limit", "must be 1 to 1000")
    if not 1 <= page <= 100_000:
        raise ValidationFailed.for_field("page", "must be 1 to 100000")


def address_line(address: Address) -> str:
    """billTo.address: line1 and line2 joined. API.md allows the two lines 60
    characters together, so the space goes in only when it still fits."""
    if not address.line2:
        return address.line1
    spaced = f"{address.line1} {address.line2}"
    return spaced if len(spaced) <= ADDRESS_MAX else address.line1 + address.line2


def split_name(holder_name: str) -> tuple[str, str]:
    """billTo.firstName and lastName: the last word is the last name."""
    first, _, last = holder_name.strip().rpartition(" ")
    return first.strip(), last


def _check_card_code(code: str, field: str) -> None:
    if not (code.isascii() and code.isdigit()) or len(code) not in CARD_CODE_LENGTHS:
        raise ValidationFailed.for_field(field, "must be 3 or 4 digits")


def _check_length(value: str | None, limit: int, field: str) -> None:
    if value is not None and len(value) > limit:
        raise ValidationFailed.for_field(field, f"at most {limit} characters for Authorize.Net")
