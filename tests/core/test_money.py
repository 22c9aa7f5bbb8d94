"""Money: integer minor units, exponents from a table, decimals only at the wire."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.errors import FieldError, ValidationFailed
from gateway.core.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR_UNITS,
    Amount,
    CurrencyCode,
    CurrencyMismatch,
    InexactAmount,
    Money,
    exponent,
    from_decimal,
    is_supported,
    to_decimal,
)
from gateway.core.schemas import RequestBody

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_units = st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS)


class Charge(RequestBody):
    amount: Amount
    currency: CurrencyCode


def decode_charge(body: bytes) -> Charge:
    return msgspec.json.decode(body, type=Charge, strict=True)


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("USD", 2),
        ("EUR", 2),
        ("GBP", 2),
        ("CAD", 2),
        ("AUD", 2),
        ("CHF", 2),
        ("SEK", 2),
        ("NOK", 2),
        ("DKK", 2),
        ("JPY", 0),
        ("KRW", 0),
        ("KWD", 3),
        ("BHD", 3),
        ("JOD", 3),
    ],
)
def test_invariant_1_exponents_come_from_the_table(currency: str, expected: int) -> None:
    assert exponent(currency) == expected
    assert is_supported(currency)


def test_every_exponent_is_an_iso_4217_minor_unit() -> None:
    assert set(CURRENCY_EXPONENTS.values()) <= {0, 2, 3}
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


@pytest.mark.parametrize("currency", ["XYZ", "usd", "US", "", "BTC"])
def test_unsupported_currency_is_a_validation_error_on_its_field(currency: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        exponent(currency)
    assert raised.value.errors == (FieldError(field="currency", message="unsupported currency"),)
    assert not is_supported(currency)


def test_unsupported_currency_names_the_field_it_came_from() -> None:
    with pytest.raises(ValidationFailed) as raised:
        exponent("XYZ", field="plan.currency")
    assert [error.field for error in raised.value.errors] == ["plan.currency"]


@pytest.mark.parametrize(
    ("amount", "currency", "wire"),
    [
        (1500, "USD", "15.00"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (2500, "EUR", "25.00"),
        (1500, "JPY", "1500"),
        (1500, "KWD", "1.500"),
        (1, "BHD", "0.001"),
        (-1500, "USD", "-15.00"),
        (99_999_999, "USD", "999999.99"),
        (MAX_MINOR_UNITS, "USD", "92233720368547758.07"),
    ],
)
def test_invariant_1_decimals_at_the_wire_follow_the_exponent(
    amount: int, currency: str, wire: str
) -> None:
    value = to_decimal(amount, currency)
    assert str(value) == wire
    assert from_decimal(Decimal(wire), currency) == amount


@pytest.mark.parametrize(
    ("wire", "currency", "amount"),
    [
        ("25", "USD", 2500),
        ("25.1", "USD", 2510),
        ("25.000", "USD", 2500),  # trailing zeros are exact
        ("1E+3", "JPY", 1000),
        ("1500.00", "JPY", 1500),
        ("0.5", "KWD", 500),
        ("-0", "USD", 0),
    ],
)
def test_exact_decimals_convert_whatever_their_spelling(
    wire: str, currency: str, amount: int
) -> None:
    assert from_decimal(Decimal(wire), currency) == amount


@pytest.mark.parametrize(
    ("wire", "currency"),
    [
        ("0.005", "USD"),
        ("25.001", "USD"),
        ("1.5", "JPY"),
        ("0.0001", "KWD"),
        ("1E-3", "EUR"),
        ("1E-1000000", "USD"),
    ],
)
def test_invariant_1_more_decimals_than_the_exponent_is_an_error_never_rounded(
    wire: str, currency: str
) -> None:
    with pytest.raises(InexactAmount, match=currency):
        from_decimal(Decimal(wire), currency)


@pytest.mark.parametrize(
    ("wire", "currency"),
    [("92233720368547758.08", "USD"), ("9223372036854775.808", "KWD"), ("1E+1000000", "JPY")],
)
def test_amounts_beyond_a_bigint_column_are_refused(wire: str, currency: str) -> None:
    with pytest.raises(InexactAmount, match="out of range"):
        from_decimal(Decimal(wire), currency)
    with pytest.raises(InexactAmount, match="out of range"):
        to_decimal(MAX_MINOR_UNITS + 1, currency)


def test_zero_is_zero_whatever_its_exponent() -> None:
    assert from_decimal(Decimal("0E+1000000"), "USD") == 0
    assert from_decimal(Decimal("-0.00000"), "USD") == 0


@pytest.mark.parametrize("wire", ["NaN", "sNaN", "Infinity", "-Infinity"])
def test_non_finite_decimals_are_not_amounts(wire: str) -> None:
    with pytest.raises(InexactAmount):
        from_decimal(Decimal(wire), "USD")


@pytest.mark.parametrize("value", [15.0, 15, "15.00", True])
def test_invariant_1_from_decimal_takes_only_decimals(value: object) -> None:
    with pytest.raises(TypeError):
        from_decimal(value, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [15.0, Decimal("15"), "1500", True])
def test_invariant_1_money_is_integer_minor_units(value: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(value, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(value, "USD")  # type: ignore[arg-type]


@given(amount=minor_units, currency=currencies)
def test_invariant_1_to_decimal_and_back_is_the_identity(amount: int, currency: str) -> None:
    assert from_decimal(to_decimal(amount, currency), currency) == amount


@given(amount=minor_units, currency=currencies)
def test_to_decimal_is_exact_and_has_the_currency_exponent(amount: int, currency: str) -> None:
    value = to_decimal(amount, currency)
    assert value.as_tuple().exponent == -CURRENCY_EXPONENTS[currency]
    with localcontext() as context:
        context.prec = 100  # wide enough that this reference division is exact
        assert value == Decimal(amount) / 10 ** CURRENCY_EXPONENTS[currency]


@given(
    amount=minor_units,
    extra_digits=st.integers(min_value=1, max_value=6),
    last_digit=st.integers(min_value=1, max_value=9),
    currency=currencies,
)
def test_invariant_1_any_sub_minor_remainder_is_refused(
    amount: int, extra_digits: int, last_digit: int, currency: str
) -> None:
    # amount, then extra_digits more decimals ending in a non-zero digit
    coefficient = amount * 10**extra_digits + (last_digit if amount >= 0 else -last_digit)
    # Built from text: Decimal arithmetic (scaleb) would round to 28 digits.
    value = Decimal(f"{coefficient}E-{CURRENCY_EXPONENTS[currency] + extra_digits}")
    with pytest.raises(InexactAmount):
        from_decimal(value, currency)


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": "1500", "currency": "USD"}',
        b'{"amount": 1500.0, "currency": "USD"}',
        b'{"amount": 1.5e3, "currency": "USD"}',
        b'{"amount": true, "currency": "USD"}',
        b'{"amount": null, "currency": "USD"}',
        b'{"amount": 0, "currency": "USD"}',
        b'{"amount": -1500, "currency": "USD"}',
        b'{"amount": 9223372036854775808, "currency": "USD"}',
        b'{"currency": "USD"}',
    ],
)
def test_invariant_1_request_amounts_are_strict_positive_integers(body: bytes) -> None:
    with pytest.raises(msgspec.ValidationError, match="amount"):
        decode_charge(body)


@pytest.mark.parametrize("currency", ["usd", "Usd", "US", "USDX", "", "U$D", 840])
def test_request_currency_codes_are_three_upper_case_letters(currency: object) -> None:
    body = msgspec.json.encode({"amount": 1500, "currency": currency})
    with pytest.raises(msgspec.ValidationError, match=r"\$\.currency"):
        decode_charge(body)


def test_strict_decoding_is_what_refuses_coercion() -> None:
    # The trap of DESIGN.md: the same type decoded loosely (as Litestar does) takes
    # "1500" and 1500.0 for 1500, which is why request bodies decode strictly.
    loose = msgspec.json.decode(b'{"amount": "1500", "currency": "USD"}', type=Charge, strict=False)
    assert loose.amount == 1500
    assert decode_charge(b'{"amount": 1500, "currency": "USD"}') == Charge(
        amount=1500, currency="USD"
    )
    largest = f'{{"amount": {MAX_MINOR_UNITS}, "currency": "USD"}}'.encode()
    assert decode_charge(largest).amount == MAX_MINOR_UNITS


def test_money_adds_and_subtracts_within_one_currency() -> None:
    captured = Money(1500, "USD")
    refunded = Money(500, "USD") + Money(250, "USD")
    assert refunded == Money(750, "USD")
    assert captured - refunded == Money(750, "USD")
    assert Money.zero("USD") < refunded <= captured
    assert captured > refunded >= Money(750, "USD")
    assert captured.to_decimal() == Decimal("15.00")


@pytest.mark.parametrize(
    "operation",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_money_never_mixes_currencies(operation: Callable[[Money, Money], object]) -> None:
    with pytest.raises(CurrencyMismatch, match="USD with JPY"):
        operation(Money(1500, "USD"), Money(1500, "JPY"))


def test_money_of_the_same_amount_in_two_currencies_is_not_equal() -> None:
    assert Money(1500, "USD") != Money(1500, "JPY")
    assert len({Money(1500, "USD"), Money(1500, "USD"), Money(1500, "JPY")}) == 2


def test_money_refuses_an_unsupported_currency() -> None:
    with pytest.raises(ValidationFailed) as raised:
        Money(1500, "XYZ")
    assert [error.field for error in raised.value.errors] == ["currency"]


@given(a=minor_units, b=minor_units, currency=currencies)
def test_money_arithmetic_matches_integer_arithmetic(a: int, b: int, currency: str) -> None:
    assert (Money(a, currency) + Money(b, currency)).amount == a + b
    assert (Money(a, currency) - Money(b, currency)).amount == a - b
    assert (Money(a, currency) < Money(b, currency)) == (a < b)
