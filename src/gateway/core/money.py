"""Money: an integer count of a currency's minor unit plus its ISO 4217 code.

DESIGN.md invariant 1: no floats anywhere. Amounts travel and are stored as
integers; `Decimal` appears only at a processor's wire (`to_decimal` /
`from_decimal`), scaled by the currency's exponent from `CURRENCY_EXPONENTS`.
"""

from __future__ import annotations

from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Final

import msgspec

from gateway.core.errors import ValidationFailed

# ISO 4217 minor-unit exponents. A currency missing here is not supported: adding
# one is a deliberate change, because a wrong exponent moves money by powers of ten.
CURRENCY_EXPONENTS: Final = MappingProxyType(
    {
        # zero-decimal currencies
        "CLP": 0,
        "ISK": 0,
        "JPY": 0,
        "KRW": 0,
        "VND": 0,
        # two-decimal currencies
        "AUD": 2,
        "BRL": 2,
        "CAD": 2,
        "CHF": 2,
        "CNY": 2,
        "CZK": 2,
        "DKK": 2,
        "EUR": 2,
        "GBP": 2,
        "HKD": 2,
        "HUF": 2,
        "ILS": 2,
        "INR": 2,
        "MXN": 2,
        "NOK": 2,
        "NZD": 2,
        "PLN": 2,
        "SEK": 2,
        "SGD": 2,
        "USD": 2,
        "ZAR": 2,
        # three-decimal currencies
        "BHD": 3,
        "JOD": 3,
        "KWD": 3,
        "OMR": 3,
        "TND": 3,
    }
)

# PostgreSQL BIGINT: a larger amount would pass msgspec (Python ints are unbounded)
# and only fail at INSERT time as a 500.
MAX_MINOR_UNITS: Final = 2**63 - 1

Amount = Annotated[
    int,
    msgspec.Meta(
        gt=0,
        le=MAX_MINOR_UNITS,
        description="A positive integer in the currency's minor unit (1500 USD = $15.00).",
        examples=[1500],
    ),
]
"""A request amount. Decode it strictly (`RequestBody`): `"1500"`, `1500.0` and
`true` are refused, never coerced."""

CurrencyCode = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Z]{3}$",
        description="An ISO 4217 currency code, upper case.",
        examples=["USD"],
    ),
]
"""The shape of a currency code; whether it is supported is `exponent`'s call."""


class CurrencyMismatch(ValueError):
    """Arithmetic or comparison across two currencies: a bug, never a conversion."""


class InexactAmount(ValueError):
    """An amount the minor unit cannot hold: more decimals than the exponent, or
    beyond what a BIGINT column stores."""


def exponent(currency: str, *, field: str = "currency") -> int:
    """The number of minor-unit digits of a supported currency."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise ValidationFailed.for_field(field, "unsupported currency") from None


def is_supported(currency: str) -> bool:
    return currency in CURRENCY_EXPONENTS


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    """The exact decimal of an amount, with exactly the currency's number of
    fractional digits, so `str()` gives the processor's wire format ("25.00")."""
    _require_type(amount_minor, int)
    _require_in_range(amount_minor)
    digits = tuple(int(digit) for digit in str(abs(amount_minor)))
    # Built from its digits: Decimal arithmetic would round to the context precision.
    return Decimal((int(amount_minor < 0), digits, -exponent(currency)))


def from_decimal(value: Decimal, currency: str) -> int:
    """The minor-unit amount of a decimal; refuses any value it would have to round.

    Trailing zeros beyond the exponent ("25.000" USD) are exact and accepted.
    """
    _require_type(value, Decimal)
    if not value.is_finite():
        raise InexactAmount(f"{value} is not an amount")
    places = exponent(currency)
    if value.is_zero():
        return 0
    # Checked before scaling, so an absurd exponent ("1E+999999") costs nothing.
    if value.adjusted() + places >= len(str(MAX_MINOR_UNITS)):
        raise InexactAmount(f"{value} is out of range")
    sign, digits, value_exponent = value.as_tuple()
    assert isinstance(value_exponent, int)  # finite values have an integer exponent
    shift = value_exponent + places
    if shift < 0:
        digits, dropped = digits[:shift], digits[shift:]
        if any(dropped):
            raise InexactAmount(f"{value} has more decimals than {currency} allows")
        shift = 0
    scale: int = 10**shift  # typed: int ** int is Any to mypy
    minor = int("".join(map(str, digits)) or "0") * scale
    _require_in_range(minor)
    return -minor if sign else minor


def _require_in_range(amount: int) -> None:
    if abs(amount) > MAX_MINOR_UNITS:
        raise InexactAmount(f"{amount} minor units is out of range")


def _require_type(value: object, expected: type) -> None:
    # Type hints do not stop untyped callers: a float (or a bool, which is an int)
    # must fail loudly rather than become money.
    if isinstance(value, bool) or not isinstance(value, expected):
        raise TypeError(f"expected {expected.__name__}, got {type(value).__name__}")


class Money(msgspec.Struct, frozen=True):
    """An amount in minor units and its currency; arithmetic never mixes currencies."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _require_type(self.amount, int)
        exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def to_decimal(self) -> Decimal:
        return to_decimal(self.amount, self.currency)

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same_currency(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same_currency(other).amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same_currency(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same_currency(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same_currency(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same_currency(other).amount

    def _same_currency(self, other: Money) -> Money:
        _require_type(other, Money)
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} with {other.currency}")
        return other
