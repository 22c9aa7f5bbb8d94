"""Processor tests; the request builders they share."""

from __future__ import annotations

from gateway.core.ids import new_id
from gateway.processors.port import Address, Card, ChargeRequest, TokenizeRequest

VISA = "4111111111111111"
REASON_CARD = "4222222222222"  # reason code = dollar amount (ANET.md §9)
EXP_MONTH = 12
EXP_YEAR = 2030


def reference() -> str:
    """A fresh txn_ id: our references are unique per attempt."""
    return new_id("txn")


def card(number: str = VISA, *, cvv: str | None = None) -> Card:
    return Card(number=number, exp_month=EXP_MONTH, exp_year=EXP_YEAR, cvv=cvv)


def address(postal_code: str = "98101") -> Address:
    return Address(line1="1 Main St", city="Seattle", postal_code=postal_code, country="US")


def charge(
    amount: int = 1500,
    *,
    number: str = VISA,
    currency: str = "USD",
    postal_code: str | None = None,
    cvv: str | None = None,
    token: str | None = None,
    ref: str | None = None,
) -> ChargeRequest:
    """A charge of a card (or of `token`), with a billing address when `postal_code`."""
    return ChargeRequest(
        reference=ref or reference(),
        amount=amount,
        currency=currency,
        card=None if token else card(number, cvv=cvv),
        token=token,
        cvv=cvv if token else None,
        billing_address=None if postal_code is None else address(postal_code),
    )


def tokenize_request(number: str = VISA) -> TokenizeRequest:
    return TokenizeRequest(reference=new_id("pm"), card=card(number))
