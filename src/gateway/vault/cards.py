"""Card validation: digits, brand by IIN range, length, Luhn, expiry and CVV.

Pure functions, no I/O. What leaves this module is `CardFacts` (brand, last 4,
expiry): DESIGN.md invariant 2 keeps the number and CVV out of everything we
store or say, so no error message here ever contains either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec

# The brand table lives in core, beside the rule that finds card numbers in text.
from gateway.core.card_numbers import (
    VALID_LENGTHS,
    Brand,
    detect_brand,
)
from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.luhn import luhn_valid

CARD_FIELD: Final = "payment_method.card"

# A typo such as 2205 for 2025 is refused rather than stored as a card that never expires.
MAX_YEARS_AHEAD: Final = 50


class CardFacts(msgspec.Struct, frozen=True):
    """What may be kept of a card: never its number or CVV."""

    brand: Brand
    last4: str
    exp_month: int
    exp_year: int


def cvv_length(brand: Brand) -> int:
    return 4 if brand == "amex" else 3


def expiry_end(exp_month: int, exp_year: int) -> datetime:
    """The first instant a card is no longer valid: the start of the next month, UTC."""
    year, month_index = divmod(exp_year * 12 + exp_month, 12)
    return datetime(year, month_index + 1, 1, tzinfo=UTC)


def is_expired(exp_month: int, exp_year: int, *, now: datetime) -> bool:
    """A card is valid until the end of its expiry month."""
    return _aware(now) >= expiry_end(exp_month, exp_year)


def validate_card(
    number: str,
    exp_month: int,
    exp_year: int,
    cvv: str,
    *,
    now: datetime,
    field_prefix: str = CARD_FIELD,
) -> CardFacts:
    """Check every field of a card at once; raise one `ValidationFailed` listing each
    failure under its dotted path (`<field_prefix>.number`, `.exp_month`, ...)."""
    number_problem = number_error(number)
    brand = None if number_problem else detect_brand(number)
    problems = {
        "number": number_problem,
        **expiry_errors(exp_month, exp_year, now=now),
        "cvv": cvv_error(cvv, brand),
    }
    errors = [
        FieldError(field=f"{field_prefix}.{name}", message=message)
        for name, message in problems.items()
        if message
    ]
    if errors:
        raise ValidationFailed(
            "; ".join(f"{error.field}: {error.message}" for error in errors), errors=errors
        )
    assert brand is not None  # a number without a problem has a brand
    return CardFacts(brand=brand, last4=number[-4:], exp_month=exp_month, exp_year=exp_year)


def number_error(number: str) -> str | None:
    """Why a card number is invalid, in words that never repeat it; None if valid."""
    if not _is_digits(number):
        return "must contain only digits"
    brand = detect_brand(number)
    if brand is None:
        return "card brand not supported"
    if len(number) not in VALID_LENGTHS[brand]:
        return f"invalid length for a {brand} card"
    if not luhn_valid(number):
        return "invalid card number"
    return None


def expiry_errors(exp_month: int, exp_year: int, *, now: datetime) -> dict[str, str]:
    """Problems of an expiry date keyed by field name (`exp_month`, `exp_year`)."""
    now = _aware(now)
    errors: dict[str, str] = {}
    if not 1 <= exp_month <= 12:
        errors["exp_month"] = "must be between 1 and 12"
    if not 1000 <= exp_year <= 9999:
        errors["exp_year"] = "must be a four-digit year"
    elif exp_year > now.year + MAX_YEARS_AHEAD:
        errors["exp_year"] = "too far in the future"
    if errors:
        return errors
    if is_expired(exp_month, exp_year, now=now):
        # Point at the part the client got wrong: a past year, or a past month of this year.
        return {"exp_year" if exp_year < now.year else "exp_month": "card has expired"}
    return {}


def cvv_error(cvv: str, brand: Brand | None) -> str | None:
    """Why a CVV is invalid for the brand (any brand when unknown); None if valid."""
    if not _is_digits(cvv):
        return "must contain only digits"
    if brand is None:
        return None if len(cvv) in (3, 4) else "must be 3 or 4 digits"
    expected = cvv_length(brand)
    return None if len(cvv) == expected else f"must be {expected} digits for a {brand} card"


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts other scripts' digits and superscripts.
    return text.isascii() and text.isdigit()


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must carry a timezone (use the clock of core/clock.py)")
    return now.astimezone(UTC)
