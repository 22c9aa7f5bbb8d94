"""Every field limit of ANET.md §1 (and the XSD facets behind it) is a 400 naming
the caller's field before anything is sent, never an E00003 at run time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.core.errors import ValidationFailed
from gateway.processors.authorize_net import build, limits
from gateway.processors.port import (
    Address,
    CaptureRequest,
    ChargeRequest,
    RefundRequest,
    TokenizeRequest,
    VoidRequest,
)
from tests.processors.authorize_net.support import (
    ADDRESS,
    AUTH,
    CARD,
    REFERENCE,
    USD,
    body,
    charge_request,
)


def at(**changes: Any) -> Address:
    return replace(ADDRESS, **changes)


def refused_field(call: Any) -> str:
    with pytest.raises(ValidationFailed) as refused:
        call()
    assert len(refused.value.errors) == 1
    return refused.value.errors[0].field


def charge(request: ChargeRequest, accepted: frozenset[str] = USD) -> Any:
    return lambda: build.charge(AUTH, request, capture=True, accepted_currencies=accepted)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"reference": "txn_" + "A" * 17}, "reference"),
        ({"reference": ""}, "reference"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "EUR"}, "currency"),
        ({"description": "d" * 256}, "description"),
        ({"customer_id": "c" * 21}, "customer.id"),
        ({"customer_email": "e" * 250 + "@x.com"}, "customer.email"),
        ({"card": replace(CARD, number="411111111111")}, "card.number"),
        ({"card": replace(CARD, number="41111111111111111")}, "card.number"),
        ({"card": replace(CARD, number="4111-1111-1111-11")}, "card.number"),
        ({"card": replace(CARD, exp_month=13)}, "card.exp_month"),
        ({"card": replace(CARD, exp_year=31)}, "card.exp_year"),
        ({"card": replace(CARD, cvv="12")}, "card.cvv"),
        ({"card": replace(CARD, cvv="12345")}, "card.cvv"),
        ({"card": replace(CARD, holder_name="F" * 51 + " Last")}, "card.holder_name"),
        ({"card": replace(CARD, holder_name="First " + "L" * 51)}, "card.holder_name"),
        ({"card": None, "token": "500123/600456", "cvv": "1a3"}, "cvv"),
        ({"card": None, "token": "not-a-profile"}, "token"),
        ({"billing_address": at(line1="a" * 61, line2=None)}, "billing_address.line1"),
        ({"billing_address": at(line1="a" * 31, line2="b" * 30)}, "billing_address.line1"),
        ({"billing_address": at(city="c" * 41)}, "billing_address.city"),
        ({"billing_address": at(state="s" * 41)}, "billing_address.state"),
        ({"billing_address": at(postal_code="9" * 21)}, "billing_address.postal_code"),
        ({"billing_address": at(country="C" * 61)}, "billing_address.country"),
    ],
)  # fmt: skip
def test_a_charge_over_a_limit_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    assert refused_field(charge(charge_request(**changes))) == field


def test_a_charge_at_every_limit_is_sent() -> None:
    request = charge_request(
        reference="txn_" + "A" * 16,
        description="d" * 255,
        customer_id="c" * 20,
        card=replace(CARD, holder_name="F" * 50 + " " + "L" * 50, cvv="1234"),
        billing_address=replace(
            ADDRESS, line1="a" * 30, line2="b" * 30, city="c" * 40, state="s" * 40,
            postal_code="9" * 20, country="C" * 60,
        ),
    )  # fmt: skip
    bill_to = body(charge(request)())["createTransactionRequest"]["transactionRequest"]["billTo"]
    # The two lines fill the 60 characters, so they are joined without a space.
    assert bill_to["address"] == "a" * 30 + "b" * 30


def test_live_mode_accepts_only_the_accounts_currencies() -> None:
    assert refused_field(charge(charge_request(currency="JPY", amount=1500))) == "currency"
    sent = body(charge(charge_request(currency="JPY", amount=1500), frozenset({"JPY"}))())
    assert sent["createTransactionRequest"]["transactionRequest"]["amount"] == "1500"
    assert refused_field(charge(charge_request(), frozenset())) == "currency"


def test_follow_up_calls_check_their_references_currency_and_parent() -> None:
    long_reference = "txn_" + "A" * 17
    assert (
        refused_field(
            lambda: build.capture(
                AUTH, CaptureRequest(long_reference, "1", 1, "USD"), accepted_currencies=USD
            )
        )
        == "reference"
    )
    assert (
        refused_field(
            lambda: build.capture(
                AUTH, CaptureRequest(REFERENCE, "1", None, "EUR"), accepted_currencies=USD
            )
        )
        == "currency"
    )
    assert (
        refused_field(
            lambda: build.refund(
                AUTH,
                RefundRequest(REFERENCE, "80000000001", 1, "USD", "11"),
                accepted_currencies=USD,
            )
        )
        == "card_last4"
    )
    assert (
        refused_field(
            lambda: build.refund(
                AUTH, RefundRequest(REFERENCE, "8000-1", 1, "USD", "1111"), accepted_currencies=USD
            )
        )
        == "processor_transaction_id"
    )
    assert refused_field(lambda: build.void(AUTH, VoidRequest(REFERENCE, "sim_1"))) == (
        "processor_transaction_id"
    )
    assert refused_field(lambda: build.transaction_details(AUTH, "")) == "processor_transaction_id"
    assert refused_field(lambda: build.batch_transactions(AUTH, "b1")) == "batch_id"  # fmt: skip


def test_a_payment_method_id_must_fit_merchant_customer_id() -> None:
    tokenize = TokenizeRequest(reference="pm_" + "A" * 18, card=CARD)
    assert refused_field(lambda: build.create_customer_profile(AUTH, tokenize)) == "reference"
    bad_zip = TokenizeRequest(
        reference="pm_" + "A" * 16,
        card=CARD,
        billing_address=replace(ADDRESS, postal_code="9" * 21),
    )
    assert refused_field(lambda: build.create_customer_profile(AUTH, bad_zip)) == (
        "billing_address.postal_code"
    )
    bad_card = TokenizeRequest(reference="pm_" + "A" * 16, card=replace(CARD, exp_month=0))
    assert refused_field(lambda: build.create_customer_profile(AUTH, bad_card)) == "card.exp_month"


@pytest.mark.parametrize(
    ("limit", "page", "field"), [(0, 1, "limit"), (1001, 1, "limit"), (10, 0, "page")]
)
def test_paging_stays_within_the_schema(limit: int, page: int, field: str) -> None:
    assert refused_field(lambda: limits.check_page(limit, page)) == field
    assert (
        refused_field(lambda: build.unsettled_transactions(AUTH, page=page, limit=limit)) == field
    )
