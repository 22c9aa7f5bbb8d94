"""Answers decoded through the BOM and past unknown fields; amounts exact by the
currency's exponent, never floats."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from gateway.core.errors import ValidationFailed
from gateway.processors.authorize_net.messages import (
    CreateCustomerProfileResponse,
    CreateTransactionResponse,
    GetSettledBatchListResponse,
    GetTransactionDetailsResponse,
    TransactionListResponse,
)
from gateway.processors.authorize_net.wire import (
    MalformedResponseError,
    amount_from_wire,
    amount_to_wire,
    decode,
)
from gateway.processors.port import OutcomeUnknownError

BOM = b"\xef\xbb\xbf"

APPROVAL = (
    b'{"transactionResponse":{"responseCode":"1","authCode":"QWE123","avsResultCode":"Y",'
    b'"cvvResultCode":"P","cavvResultCode":"2","transId":"80000000001","refTransID":"",'
    b'"transHash":"","testRequest":"0","accountNumber":"XXXX1111","accountType":"Visa",'
    b'"messages":[{"code":"1","description":"This transaction has been approved."}],'
    b'"transHashSha2":"AB12","SupplementalDataQualificationIndicator":0,'
    b'"networkTransId":"123456789NNNNNNNNNNNNNN"},'
    b'"refId":"txn_01J5Z8Q4W7X2K9M3","messages":{"resultCode":"Ok",'
    b'"message":[{"code":"I00001","text":"Successful."}]}}'
)


def test_an_answer_with_the_bom_and_unknown_fields_decodes() -> None:
    answer = decode(BOM + APPROVAL, CreateTransactionResponse)

    assert answer.ok
    assert answer.ref_id == "txn_01J5Z8Q4W7X2K9M3"
    assert answer.codes == ("I00001",)
    assert answer.transaction_response is not None
    assert answer.transaction_response.trans_id == "80000000001"
    assert answer.transaction_response.account_number == "XXXX1111"
    assert answer.transaction_response.messages[0].code == "1"


def test_an_answer_without_the_bom_decodes_too() -> None:
    assert decode(APPROVAL, CreateTransactionResponse).ok


async def test_a_bom_body_read_through_httpx_decodes() -> None:
    # Unit level only: the client itself is tested against a real local server.
    transport = httpx.MockTransport(lambda _: httpx.Response(200, content=BOM + APPROVAL))
    async with httpx.AsyncClient(transport=transport) as http:
        answer = await http.post("http://anet.invalid/xml/v1/request.api", content=b"{}")
    assert decode(answer.content, CreateTransactionResponse).ok


def test_an_error_envelope_decodes_into_any_answer() -> None:
    body = BOM + (
        b'{"messages":{"resultCode":"Error","message":[{"code":"E00007",'
        b'"text":"User authentication failed due to invalid authentication values."}]}}'
    )
    answer = decode(body, CreateTransactionResponse)

    assert not answer.ok
    assert answer.codes == ("E00007",)
    assert answer.transaction_response is None


def test_transaction_details_read_numbers_and_strings_exactly() -> None:
    body = BOM + (
        b'{"transaction":{"transId":"80000000001","refTransId":"","submitTimeUTC":'
        b'"2026-12-01T17:36:50.1234567Z","submitTimeLocal":"2026-12-01T09:36:50.1234567",'
        b'"transactionType":"authCaptureTransaction","transactionStatus":"settledSuccessfully",'
        b'"responseCode":1,"responseReasonCode":"1","responseReasonDescription":"Approval",'
        b'"authCode":"QWE123","AVSResponse":"Y","cardCodeResponse":"P",'
        b'"batch":{"batchId":"9000001","settlementTimeUTC":"2026-12-02T00:05:01Z",'
        b'"settlementState":"settledSuccessfully","marketType":"eCommerce"},'
        b'"order":{"invoiceNumber":"txn_01J5Z8Q4W7X2K9M3","discountAmount":0.0},'
        b'"authAmount":12345678.10,"settleAmount":"12345678.10","taxExempt":false,'
        b'"payment":{"creditCard":{"cardNumber":"XXXX1111","expirationDate":"XXXX",'
        b'"cardType":"Visa"}},"recurringBilling":false,"product":"Card Not Present"},'
        b'"transrefId":"txn_01J5Z8Q4W7X2K9M3","clientId":"x",'
        b'"messages":{"resultCode":"Ok","message":[{"code":"I00001","text":"Successful."}]}}'
    )
    details = decode(body, GetTransactionDetailsResponse)

    assert details.transaction is not None
    assert details.transaction.response_code == 1
    assert details.transaction.response_reason_code == 1
    assert details.transaction.auth_amount == Decimal("12345678.10")
    assert details.transaction.settle_amount == Decimal("12345678.10")
    assert details.transaction.avs_response == "Y"
    assert details.transref_id == "txn_01J5Z8Q4W7X2K9M3"


def test_lists_decode() -> None:
    unsettled = decode(
        BOM + b'{"transactions":[{"transId":"80000000002","submitTimeUTC":"2026-12-01T17:36:50Z",'
        b'"submitTimeLocal":"2026-12-01T09:36:50","transactionStatus":"capturedPendingSettlement",'
        b'"invoiceNumber":"txn_01J5Z8Q4W7X2K9M3","accountType":"Visa","accountNumber":"XXXX1111",'
        b'"settleAmount":15.00,"marketType":"eCommerce","product":"Card Not Present"}],'
        b'"totalNumInResultSet":1,"messages":{"resultCode":"Ok","message":[{"code":"I00001",'
        b'"text":"Successful."}]}}',
        TransactionListResponse,
    )
    batches = decode(
        BOM + b'{"batchList":[{"batchId":"9000001","settlementTimeUTC":"2026-12-02T00:05:01Z",'
        b'"settlementState":"settledSuccessfully","paymentMethod":"creditCard"}],'
        b'"messages":{"resultCode":"Ok","message":[{"code":"I00001","text":"Successful."}]}}',
        GetSettledBatchListResponse,
    )
    profile = decode(
        BOM + b'{"customerProfileId":"500123","customerPaymentProfileIdList":["600456"],'
        b'"customerShippingAddressIdList":[],"validationDirectResponseList":["1,1,1,..."],'
        b'"messages":{"resultCode":"Ok","message":[{"code":"I00001","text":"Successful."}]}}',
        CreateCustomerProfileResponse,
    )

    assert unsettled.total_num_in_result_set == 1
    assert unsettled.transactions[0].invoice_number == "txn_01J5Z8Q4W7X2K9M3"
    assert unsettled.transactions[0].settle_amount == Decimal("15.00")
    assert batches.batch_list[0].batch_id == "9000001"
    assert profile.customer_profile_id == "500123"
    assert profile.customer_payment_profile_id_list == ["600456"]


@pytest.mark.parametrize(
    "body", [b"", BOM, b"<html>Bad gateway</html>", BOM + b'{"refId":"x"}', b"\xff\xfe{}"]
)
def test_an_unreadable_answer_is_an_unknown_outcome(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as unreadable:
        decode(body, CreateTransactionResponse)
    assert isinstance(unreadable.value, OutcomeUnknownError)


@pytest.mark.parametrize(
    ("amount", "currency", "wire"),
    [
        (1500, "USD", "15.00"),
        (1500, "JPY", "1500"),
        (1500, "KWD", "1.500"),
        (1, "USD", "0.01"),
        (100, "EUR", "1.00"),
        (9_223_372_036_854_775_807, "USD", "92233720368547758.07"),
    ],
)
def test_amounts_cross_the_wire_by_the_currencys_exponent(
    amount: int, currency: str, wire: str
) -> None:
    assert amount_to_wire(amount, currency) == wire
    assert amount_from_wire(wire, currency) == amount
    assert amount_from_wire(Decimal(wire), currency) == amount


def test_a_float_never_becomes_an_amount() -> None:
    with pytest.raises(TypeError):
        amount_to_wire(15.0, "USD")  # type: ignore[arg-type]


def test_an_unsupported_currency_is_a_400_naming_it() -> None:
    with pytest.raises(ValidationFailed) as refused:
        amount_to_wire(1500, "XXX")
    assert refused.value.errors[0].field == "currency"


@pytest.mark.parametrize("wire", ["15.001", "abc", "NaN"])
def test_an_amount_we_cannot_hold_exactly_is_unreadable(wire: str) -> None:
    with pytest.raises(MalformedResponseError):
        amount_from_wire(wire, "USD")
