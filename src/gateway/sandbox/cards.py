"""A creditCard element read into the port's Card. The number passes through to
the simulator, which keeps only brand, last 4, expiry and trigger class."""

from __future__ import annotations

import re
from typing import Any, Final

from gateway.processors.port import Card
from gateway.sandbox.answers import TransactionRefused
from gateway.sandbox.fields import required_text, text

INVALID_EXPIRY: Final = ("7", "Credit card expiration date is invalid.")

# Authorize.Net takes YYYY-MM (what the connector sends), MMYY, MM/YY, MMYYYY, MM/YYYY, YYYY/MM.
_YEAR_FIRST = re.compile(r"(\d{4})[-/](\d{1,2})")
_MONTH_FIRST = re.compile(r"(\d{2})/?(\d{2}|\d{4})")


def expiry(value: str) -> tuple[int, int]:
    """(month, year) of an expirationDate; TransactionRefused (reason 7) otherwise."""
    if match := _YEAR_FIRST.fullmatch(value):
        year, month = int(match.group(1)), int(match.group(2))
    elif match := _MONTH_FIRST.fullmatch(value):
        month, year = int(match.group(1)), int(match.group(2))
        year += 2000 if year < 100 else 0
    else:
        raise TransactionRefused(*INVALID_EXPIRY)
    if not 1 <= month <= 12:
        raise TransactionRefused(*INVALID_EXPIRY)
    return month, year


def card_from(credit_card: dict[str, Any], bill_to: dict[str, Any] | None) -> Card:
    month, year = expiry(required_text(credit_card, "expirationDate"))
    names = [name for name in (text(bill_to, "firstName"), text(bill_to, "lastName")) if name]
    return Card(
        number=required_text(credit_card, "cardNumber"),
        exp_month=month,
        exp_year=year,
        cvv=text(credit_card, "cardCode"),
        holder_name=" ".join(names) or None,
    )
