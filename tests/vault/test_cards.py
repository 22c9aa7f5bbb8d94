"""Card validation: brand by IIN range, length, Luhn, expiry, CVV; never the number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import combinations

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gateway.core.card_numbers import BRANDS, IIN_RANGES, VALID_LENGTHS, Brand, detect_brand
from gateway.core.errors import ValidationFailed
from gateway.core.logging import luhn_valid
from gateway.vault.cards import (
    CardFacts,
    cvv_length,
    expiry_end,
    is_expired,
    validate_card,
)
from tests.support import TEST_CARD_NUMBERS

NOW = datetime(2030, 5, 15, 12, 0, tzinfo=UTC)

# ANET.md section 3, plus the legacy 13-digit Visa.
ANET_TEST_CARDS: dict[str, Brand] = {
    "4007000000027": "visa",
    "4012888818888": "visa",
    "4111111111111111": "visa",
    "4222222222222": "visa",
    "5424000000000015": "mastercard",
    "2223000010309703": "mastercard",
    "2223000010309711": "mastercard",
    "370000000000002": "amex",
    "6011000000000012": "discover",
    "3088000000000017": "jcb",
    "38000000000006": "diners",
    "6221499053360818": "unionpay",
}

digit_strings = st.text(alphabet="0123456789", min_size=1, max_size=30)


def with_check_digit(payload: str) -> str:
    """payload plus the one digit that makes it Luhn-valid."""
    return next(payload + digit for digit in "0123456789" if luhn_valid(payload + digit))


def card_number(prefix: str, length: int) -> str:
    return with_check_digit(prefix.ljust(length - 1, "0"))


def valid_cvv(number: str) -> str:
    brand = detect_brand(number)
    assert brand is not None
    return "1234"[: cvv_length(brand)]


def problems(raised: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {error.field: error.message for error in raised.value.errors}


def test_the_table_covers_every_shared_test_card() -> None:
    assert set(ANET_TEST_CARDS) == set(TEST_CARD_NUMBERS)


@pytest.mark.parametrize(("number", "brand"), ANET_TEST_CARDS.items())
def test_every_anet_test_card_detects_its_brand_and_validates(number: str, brand: Brand) -> None:
    assert detect_brand(number) == brand
    assert luhn_valid(number)
    facts = validate_card(number, 12, 2031, valid_cvv(number), now=NOW)
    assert facts == CardFacts(brand=brand, last4=number[-4:], exp_month=12, exp_year=2031)


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("4", "visa"),
        ("51", "mastercard"),
        ("55", "mastercard"),
        ("2221", "mastercard"),
        ("2720", "mastercard"),
        ("34", "amex"),
        ("37", "amex"),
        ("6011", "discover"),
        ("644", "discover"),
        ("649", "discover"),
        ("65", "discover"),
        ("3528", "jcb"),
        ("3589", "jcb"),
        ("3088", "jcb"),
        ("300", "diners"),
        ("305", "diners"),
        ("36", "diners"),
        ("38", "diners"),
        ("62", "unionpay"),
        ("622125", "unionpay"),
        ("622926", "unionpay"),
        ("50", None),
        ("56", None),
        ("2220", None),
        ("2721", None),
        ("35", None),
        ("3527", None),
        ("3590", None),
        ("306", None),
        ("3089", None),
        ("6010", None),
        ("643", None),
        ("1", None),
        ("9", None),
    ],
)
def test_brands_follow_current_iin_ranges(prefix: str, brand: Brand | None) -> None:
    assert detect_brand(prefix.ljust(16, "0")) == brand


@pytest.mark.parametrize("prefix", ["622126", "622149", "622500", "622925"])
def test_the_discover_unionpay_overlap_is_unionpay(prefix: str) -> None:
    assert detect_brand(prefix.ljust(16, "0")) == "unionpay"


def test_no_two_iin_ranges_of_one_prefix_length_overlap() -> None:
    for first, second in combinations(IIN_RANGES, 2):
        if len(first.low) == len(second.low):
            assert first.high < second.low or second.high < first.low, (first, second)


def test_every_brand_has_ranges_and_lengths() -> None:
    assert {iin.brand for iin in IIN_RANGES} == set(BRANDS) == set(VALID_LENGTHS)
    assert all(len(iin.low) == len(iin.high) for iin in IIN_RANGES)


@pytest.mark.parametrize(
    ("prefix", "length"),
    [
        ("4", 13),
        ("4", 16),
        ("4", 19),
        ("51", 16),
        ("2221", 16),
        ("37", 15),
        ("6011", 16),
        ("65", 19),
        ("3528", 16),
        ("3589", 19),
        ("36", 14),
        ("300", 16),
        ("62", 16),
        ("62", 19),
    ],
)
def test_valid_lengths_per_brand_are_accepted(prefix: str, length: int) -> None:
    number = card_number(prefix, length)
    assert validate_card(number, 1, 2031, valid_cvv(number), now=NOW).last4 == number[-4:]


@pytest.mark.parametrize(
    ("prefix", "length", "brand"),
    [
        ("4", 14, "visa"),
        ("4", 15, "visa"),
        ("4", 20, "visa"),
        ("51", 15, "mastercard"),
        ("51", 17, "mastercard"),
        ("37", 16, "amex"),
        ("6011", 15, "discover"),
        ("36", 13, "diners"),
        ("62", 15, "unionpay"),
    ],
)
def test_invalid_lengths_per_brand_are_refused(prefix: str, length: int, brand: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card(card_number(prefix, length), 1, 2031, "123", now=NOW)
    assert problems(raised)["payment_method.card.number"] == f"invalid length for a {brand} card"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4111111111111112", "invalid card number"),
        ("4111 1111 1111 1111", "must contain only digits"),
        ("4111-1111-1111-1111", "must contain only digits"),
        ("", "must contain only digits"),
        ("٤١١١١١١١١١١١١١١١", "must contain only digits"),  # Arabic-Indic digits
        ("9111111111111111", "card brand not supported"),
    ],
)
def test_bad_numbers_fail_on_the_number_field(number: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card(number, 1, 2031, "123", now=NOW)
    assert problems(raised) == {"payment_method.card.number": message}


@given(payload=digit_strings)
def test_luhn_exactly_one_check_digit_completes_any_payload(payload: str) -> None:
    assert sum(luhn_valid(payload + digit) for digit in "0123456789") == 1


@given(payload=digit_strings, data=st.data())
def test_luhn_catches_every_single_digit_error(payload: str, data: st.DataObject) -> None:
    number = with_check_digit(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    replacement = data.draw(st.sampled_from("0123456789"))
    assume(replacement != number[position])
    altered = number[:position] + replacement + number[position + 1 :]
    assert not luhn_valid(altered)


@given(payload=st.text(alphabet="0123456789", min_size=2, max_size=30), data=st.data())
def test_luhn_catches_adjacent_transpositions_except_09(payload: str, data: st.DataObject) -> None:
    number = with_check_digit(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 2))
    pair = number[position : position + 2]
    assume(pair[0] != pair[1] and pair not in ("09", "90"))
    swapped = number[:position] + pair[::-1] + number[position + 2 :]
    assert not luhn_valid(swapped)


@pytest.mark.parametrize(
    ("number", "cvv", "message"),
    [
        ("370000000000002", "123", "must be 4 digits for a amex card"),
        ("4111111111111111", "1234", "must be 3 digits for a visa card"),
        ("4111111111111111", "12", "must be 3 digits for a visa card"),
        ("4111111111111111", "12a", "must contain only digits"),
        ("4111111111111111", "", "must contain only digits"),
        ("6221499053360818", "1234", "must be 3 digits for a unionpay card"),
    ],
)
def test_cvv_length_depends_on_the_brand(number: str, cvv: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card(number, 1, 2031, cvv, now=NOW)
    assert problems(raised) == {"payment_method.card.cvv": message}


@pytest.mark.parametrize("cvv", ["123", "1234"])
def test_cvv_of_an_unknown_brand_is_checked_for_shape_only(cvv: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card("9111111111111111", 1, 2031, cvv, now=NOW)
    assert "payment_method.card.cvv" not in problems(raised)


def test_a_card_is_valid_until_the_end_of_its_expiry_month() -> None:
    last_moment = datetime(2030, 5, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert validate_card("4111111111111111", 5, 2030, "123", now=last_moment).exp_month == 5
    assert not is_expired(5, 2030, now=last_moment)
    assert is_expired(5, 2030, now=last_moment + timedelta(microseconds=1))
    assert expiry_end(12, 2030) == datetime(2031, 1, 1, tzinfo=UTC)


def test_expiry_is_judged_in_utc_whatever_the_zone_of_now() -> None:
    # 20:00 on 31 May in New York is already 1 June in UTC.
    new_york_evening = datetime(2030, 5, 31, 20, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert is_expired(5, 2030, now=new_york_evening)


@pytest.mark.parametrize(
    ("exp_month", "exp_year", "field", "message"),
    [
        (4, 2030, "exp_month", "card has expired"),
        (12, 2029, "exp_year", "card has expired"),
        (0, 2031, "exp_month", "must be between 1 and 12"),
        (13, 2031, "exp_month", "must be between 1 and 12"),
        (1, 31, "exp_year", "must be a four-digit year"),
        (1, 10000, "exp_year", "must be a four-digit year"),
        (1, 2081, "exp_year", "too far in the future"),
    ],
)
def test_expiry_failures_name_the_field(
    exp_month: int, exp_year: int, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card("4111111111111111", exp_month, exp_year, "123", now=NOW)
    assert problems(raised) == {f"payment_method.card.{field}": message}


def test_every_failure_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card("4111111111111112", 13, 31, "12", now=NOW)
    assert set(problems(raised)) == {
        "payment_method.card.number",
        "payment_method.card.exp_month",
        "payment_method.card.exp_year",
        "payment_method.card.cvv",
    }
    assert raised.value.code == "validation_error"


def test_fields_are_named_under_the_given_prefix() -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_card("4111111111111111", 1, 2031, "12", now=NOW, field_prefix="card")
    assert problems(raised) == {"card.cvv": "must be 3 digits for a visa card"}


def test_now_without_a_timezone_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        validate_card("4111111111111111", 1, 2031, "123", now=datetime(2030, 5, 15))  # noqa: DTZ001


def test_invariant_2_card_facts_never_hold_the_number_or_cvv() -> None:
    facts = validate_card("4111111111111111", 1, 2031, "987", now=NOW)
    kept = msgspec.json.encode(facts).decode()
    assert set(msgspec.structs.asdict(facts)) == {"brand", "last4", "exp_month", "exp_year"}
    assert "4111111111111111" not in kept
    assert "987" not in kept


@given(
    number=st.text(alphabet="0123456789 -x", min_size=12, max_size=25),
    exp_month=st.integers(min_value=-1, max_value=14),
    exp_year=st.integers(min_value=0, max_value=10_001),
    cvv=st.text(alphabet="0123456789a", max_size=5),
)
def test_invariant_2_no_error_ever_repeats_the_card_number(
    number: str, exp_month: int, exp_year: int, cvv: str
) -> None:
    error = failure_of(number, exp_month, exp_year, cvv)
    said = [str(error), error.detail, *(item.message for item in error.errors)] if error else []
    assert not any(number in text for text in said)


def failure_of(number: str, exp_month: int, exp_year: int, cvv: str) -> ValidationFailed | None:
    try:
        validate_card(number, exp_month, exp_year, cvv, now=NOW)
    except ValidationFailed as error:
        return error
    return None
