"""Requests serialise in the XSD's element order with absent fields omitted
(Authorize.Net answers E00003 otherwise), and carry our references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.core.errors import ValidationFailed
from gateway.processors.authorize_net import build
from gateway.processors.port import (
    CaptureRequest,
    Card,
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
    assert_request_order,
    assert_xsd_order,
    charge_request,
)

TOKEN = build.profile_token("500123", "600456")


@pytest.mark.parametrize("capture", [True, False])
def test_a_card_charge_is_in_xsd_order_with_our_reference_as_ref_id_and_invoice(
    capture: bool,
) -> None:
    request = build.charge(AUTH, charge_request(), capture=capture, accepted_currencies=USD)

    inner = assert_request_order(request)

    assert inner["merchantAuthentication"] == {
        "name": "login1234",
        "transactionKey": "0123456789abcdef",
    }
    assert inner["refId"] == REFERENCE
    transaction = inner["transactionRequest"]
    assert list(transaction) == [
        "transactionType", "amount", "currencyCode", "payment", "order", "customer", "billTo",
    ]  # fmt: skip
    assert transaction["transactionType"] == (
        "authCaptureTransaction" if capture else "authOnlyTransaction"
    )
    assert transaction["amount"] == "15.00"
    assert transaction["payment"]["creditCard"] == {
        "cardNumber": "4111111111111111",
        "expirationDate": "2031-03",
        "cardCode": "123",
    }
    assert transaction["order"] == {"invoiceNumber": REFERENCE, "description": "Order 42"}
    assert transaction["customer"] == {"id": "cust-42", "email": "ada@example.com"}
    assert transaction["billTo"] == {
        "firstName": "Ada B",
        "lastName": "Lovelace",
        "address": "1 Main St Apt 4",
        "city": "Bellevue",
        "state": "WA",
        "zip": "98004",
        "country": "US",
    }


def test_a_bare_charge_omits_every_absent_field() -> None:
    bare = ChargeRequest(
        reference=REFERENCE,
        amount=1,
        currency="USD",
        card=Card(number="4007000000027", exp_month=12, exp_year=2030),
    )
    inner = assert_request_order(build.charge(AUTH, bare, capture=True, accepted_currencies=USD))

    assert list(inner) == ["merchantAuthentication", "refId", "transactionRequest"]
    assert inner["transactionRequest"] == {
        "transactionType": "authCaptureTransaction",
        "amount": "0.01",
        "currencyCode": "USD",
        "payment": {"creditCard": {"cardNumber": "4007000000027", "expirationDate": "2030-12"}},
        "order": {"invoiceNumber": REFERENCE},
    }


def test_a_profile_charge_names_the_cim_profiles_and_a_duplicate_window() -> None:
    request = build.charge(
        AUTH,
        charge_request(card=None, token=TOKEN, cvv="999", billing_address=None),
        capture=True,
        accepted_currencies=USD,
        duplicate_window_s=0,
    )
    transaction = assert_request_order(request)["transactionRequest"]

    assert "payment" not in transaction
    assert "billTo" not in transaction
    assert transaction["profile"] == {
        "customerProfileId": "500123",
        "paymentProfile": {"paymentProfileId": "600456", "cardCode": "999"},
    }
    assert transaction["transactionSettings"] == {
        "setting": [{"settingName": "duplicateWindow", "settingValue": "0"}]
    }


def test_a_prior_auth_capture_keeps_the_parent_and_omits_an_absent_amount() -> None:
    partial = build.capture(
        AUTH,
        CaptureRequest(REFERENCE, "80000000001", amount=1000, currency="USD"),
        accepted_currencies=USD,
    )
    full = build.capture(
        AUTH,
        CaptureRequest(REFERENCE, "80000000001", amount=None, currency="USD"),
        accepted_currencies=USD,
    )

    assert assert_request_order(partial)["transactionRequest"] == {
        "transactionType": "priorAuthCaptureTransaction",
        "amount": "10.00",
        "refTransId": "80000000001",
    }
    inner = assert_request_order(full)
    assert inner["refId"] == REFERENCE
    assert inner["transactionRequest"] == {
        "transactionType": "priorAuthCaptureTransaction",
        "refTransId": "80000000001",
    }


def test_a_refund_sends_the_last_4_and_xxxx_and_our_reference_as_invoice() -> None:
    request = build.refund(
        AUTH,
        RefundRequest(REFERENCE, "80000000001", amount=500, currency="USD", card_last4="1111"),
        accepted_currencies=USD,
    )
    inner = assert_request_order(request)

    assert inner["refId"] == REFERENCE
    assert inner["transactionRequest"] == {
        "transactionType": "refundTransaction",
        "amount": "5.00",
        "currencyCode": "USD",
        "payment": {"creditCard": {"cardNumber": "1111", "expirationDate": "XXXX"}},
        "refTransId": "80000000001",
        "order": {"invoiceNumber": REFERENCE},
    }


def test_a_void_names_only_the_parent() -> None:
    inner = assert_request_order(build.void(AUTH, VoidRequest(REFERENCE, "80000000001")))

    assert inner["refId"] == REFERENCE
    assert inner["transactionRequest"] == {
        "transactionType": "voidTransaction",
        "refTransId": "80000000001",
    }


def test_a_customer_profile_is_keyed_by_our_payment_method_id() -> None:
    request = build.create_customer_profile(
        AUTH,
        TokenizeRequest(
            reference="pm_01J5Z8Q4W7X2K9M3N",
            card=CARD,
            billing_address=ADDRESS,
            customer_id="cust-42",
            customer_email="ada@example.com",
        ),
        validation_mode="testMode",
    )
    inner = assert_request_order(request)

    assert inner["refId"] == "pm_01J5Z8Q4W7X2K9M3N"
    assert inner["validationMode"] == "testMode"
    profile = inner["profile"]
    assert profile["merchantCustomerId"] == "pm_01J5Z8Q4W7X2K9M3N"
    assert profile["email"] == "ada@example.com"
    assert list(profile["paymentProfiles"]) == ["customerType", "billTo", "payment"]
    assert profile["paymentProfiles"]["payment"]["creditCard"]["expirationDate"] == "2031-03"


def test_deleting_a_profile_names_the_customer_profile_of_the_token() -> None:
    inner = assert_request_order(build.delete_customer_profile(AUTH, TOKEN))

    assert inner == {
        "merchantAuthentication": inner["merchantAuthentication"],
        "customerProfileId": "500123",
    }


def test_reporting_requests_are_in_xsd_order() -> None:
    assert assert_request_order(build.transaction_details(AUTH, "80000000001")) == {
        "merchantAuthentication": AUTH_BODY,
        "transId": "80000000001",
    }
    assert assert_request_order(build.unsettled_transactions(AUTH, page=2, limit=50)) == {
        "merchantAuthentication": AUTH_BODY,
        "sorting": {"orderBy": "submitTimeUTC", "orderDescending": True},
        "paging": {"limit": 50, "offset": 2},
    }
    first = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert assert_request_order(
        build.settled_batches(AUTH, first=first, last=first + timedelta(days=31))
    ) == {
        "merchantAuthentication": AUTH_BODY,
        "firstSettlementDate": "2026-11-01T08:00:00Z",
        "lastSettlementDate": "2026-12-02T08:00:00Z",
    }
    assert assert_request_order(build.batch_transactions(AUTH, "9000001")) == {
        "merchantAuthentication": AUTH_BODY,
        "batchId": "9000001",
        "sorting": {"orderBy": "id", "orderDescending": False},
        "paging": {"limit": 1000, "offset": 1},
    }
    assert assert_request_order(build.authenticate_test(AUTH)) == {
        "merchantAuthentication": AUTH_BODY
    }


AUTH_BODY = {"name": "login1234", "transactionKey": "0123456789abcdef"}


def test_a_settled_batch_span_over_31_days_is_refused_before_sending() -> None:
    first = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValidationFailed) as refused:
        build.settled_batches(AUTH, first=first, last=first + timedelta(days=32))
    assert refused.value.errors[0].field == "last_settlement_date"


def test_a_settled_batch_window_covers_its_last_second() -> None:
    # A batch settled at 08:00:00.4 is within a window ending at 08:00:00.5.
    first = datetime(2026, 11, 1, 7, 0, 0, 900_000, tzinfo=UTC)
    sent = assert_request_order(
        build.settled_batches(AUTH, first=first, last=first + timedelta(hours=1, microseconds=1))
    )
    assert (sent["firstSettlementDate"], sent["lastSettlementDate"]) == (
        "2026-11-01T07:00:00Z",
        "2026-11-01T08:00:01Z",
    )
    widest = assert_request_order(
        build.settled_batches(AUTH, first=first, last=first + timedelta(days=31))
    )
    assert (widest["firstSettlementDate"], widest["lastSettlementDate"]) == (
        "2026-11-01T07:00:01Z",
        "2026-12-02T07:00:01Z",
    )


@pytest.mark.parametrize("token", ["", "500123", "abc/600456", "500123/"])
def test_a_token_that_is_not_a_profile_pair_is_refused(token: str) -> None:
    with pytest.raises(ValidationFailed):
        build.parse_profile_token(token)


@pytest.mark.parametrize(
    "node",
    [
        {"amount": "1.00", "transactionType": "authCaptureTransaction"},
        {"transactionType": "authCaptureTransaction", "amount": None},
        {"transactionType": "authCaptureTransaction", "colour": "red"},
    ],
)
def test_the_order_check_itself_catches_disorder_nulls_and_unknown_keys(
    node: dict[str, object],
) -> None:
    with pytest.raises(AssertionError):
        assert_xsd_order(node, "transactionRequestType")
