"""Every answer class of ANET.md §2 in the port's words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from structlog.testing import capture_logs

from gateway.processors.authorize_net import answers
from gateway.processors.authorize_net.errors import AuthorizeNetUnavailableError
from gateway.processors.authorize_net.messages import (
    CreateCustomerProfileResponse,
    CreateTransactionResponse,
    DeleteCustomerProfileResponse,
    GetCustomerProfileResponse,
    GetSettledBatchListResponse,
    GetTransactionDetailsResponse,
    TransactionListResponse,
)
from gateway.processors.authorize_net.wire import decode
from gateway.processors.port import NotSentError, OperatorError, Outcome, RequestRejectedError

OK = {"resultCode": "Ok", "message": [{"code": "I00001", "text": "Successful."}]}
UNSUCCESSFUL = {
    "resultCode": "Error",
    "message": [{"code": "E00027", "text": "The transaction was unsuccessful."}],
}


def transaction_answer(
    response_code: str,
    reason: str,
    text: str = "text",
    *,
    trans_id: str = "80000000001",
    ref_trans_id: str = "",
) -> CreateTransactionResponse:
    answer: dict[str, Any] = {
        "responseCode": response_code,
        "authCode": "QWE123" if response_code == "1" else "",
        "avsResultCode": "Y",
        "cvvResultCode": "M",
        "transId": trans_id,
        "refTransID": ref_trans_id,
        "accountNumber": "XXXX1111",
        "accountType": "Visa",
    }
    if response_code == "1":
        answer["messages"] = [{"code": reason, "description": text}]
    else:
        answer["errors"] = [{"errorCode": reason, "errorText": text}]
    envelope = OK if response_code in {"1", "4"} else UNSUCCESSFUL
    body = {"transactionResponse": answer, "refId": "txn_1", "messages": envelope}
    return decode(b"\xef\xbb\xbf" + msgspec.json.encode(body), CreateTransactionResponse)


def test_an_approval() -> None:
    result = answers.transaction_result(transaction_answer("1", "1", "approved"))

    assert result.outcome is Outcome.APPROVED
    assert result.processor_transaction_id == "80000000001"
    assert result.reason_code is None
    assert result.reason_text is None
    assert (result.auth_code, result.avs_result, result.cvv_result) == ("QWE123", "Y", "M")
    assert not result.already_done


@pytest.mark.parametrize(
    ("response_code", "reason"),
    [
        ("2", "2"), ("2", "3"), ("2", "4"), ("2", "27"), ("2", "44"), ("2", "45"), ("2", "65"),
        # The card's own faults come as errors (3); the cardholder can act on them.
        ("3", "6"), ("3", "7"), ("3", "8"), ("3", "17"),
    ],
)  # fmt: skip
def test_a_decline_carries_the_reason_code_as_decline_code(response_code: str, reason: str) -> None:
    result = answers.transaction_result(transaction_answer(response_code, reason))

    assert result.outcome is Outcome.DECLINED
    assert result.reason_code == reason
    assert result.reason_text == "text"


@pytest.mark.parametrize("reason", [*map(str, range(19, 24)), *map(str, range(57, 64))])
@pytest.mark.parametrize("response_code", ["2", "3"])
def test_processing_errors_are_processor_errors(response_code: str, reason: str) -> None:
    result = answers.transaction_result(transaction_answer(response_code, reason, trans_id="0"))

    assert result.outcome is Outcome.ERROR
    assert result.reason_code == reason
    assert result.processor_transaction_id is None  # "0" is no transaction


@pytest.mark.parametrize("reason", ["5", "16", "39", "47", "54", "55"])
def test_refused_follow_ups_are_processor_errors(reason: str) -> None:
    result = answers.transaction_result(transaction_answer("3", reason, trans_id="0"))

    assert result.outcome is Outcome.ERROR
    assert result.reason_code == reason


def test_the_duplicate_window_is_a_processor_error_naming_it() -> None:
    result = answers.transaction_result(
        transaction_answer("3", "11", "A duplicate transaction has been submitted.", trans_id="0")
    )

    assert result.outcome is Outcome.ERROR
    assert result.reason_code == "11"
    assert result.reason_text is not None
    assert "duplicate" in result.reason_text
    assert "duplicate window" in result.reason_text


@pytest.mark.parametrize(("response_code", "reason"), [("4", "252"), ("4", "253"), ("4", "193")])
def test_held_for_review(response_code: str, reason: str) -> None:
    result = answers.transaction_result(transaction_answer(response_code, reason))

    assert result.outcome is Outcome.HELD
    assert result.reason_code == reason
    assert result.processor_transaction_id == "80000000001"


@pytest.mark.parametrize("reason", ["310", "311"])
def test_already_voided_or_captured_is_an_idempotent_no_op(reason: str) -> None:
    result = answers.transaction_result(
        transaction_answer("1", reason, "already done", trans_id="0", ref_trans_id="80000000001")
    )

    assert result.outcome is Outcome.APPROVED
    assert result.already_done
    assert result.reason_code == reason
    # The parent's transaction: never a new one, so never new money.
    assert result.processor_transaction_id == "80000000001"


READERS: dict[type[Any], Callable[[Any], object]] = {
    CreateTransactionResponse: answers.transaction_result,
    GetTransactionDetailsResponse: lambda answer: answers.transaction_details(answer, "USD"),
    CreateCustomerProfileResponse: answers.customer_profile_ids,
    DeleteCustomerProfileResponse: answers.profile_deleted,
    GetCustomerProfileResponse: lambda answer: answers.payment_profile_of(
        answer, merchant_customer_id="pm_1", last4="1111"
    ),
}


def unavailable(body: dict[str, Any], response_type: type[Any]) -> AuthorizeNetUnavailableError:
    decoded = decode(msgspec.json.encode(body), response_type)
    read = READERS[response_type]
    with capture_logs() as logs, pytest.raises(AuthorizeNetUnavailableError) as refused:
        read(decoded)
    assert [log["event"] for log in logs] == ["authorize_net.operator_error"]
    assert logs[0]["log_level"] == "error"
    return refused.value


@pytest.mark.parametrize(
    "response_type",
    [
        CreateTransactionResponse,
        GetTransactionDetailsResponse,
        CreateCustomerProfileResponse,
        DeleteCustomerProfileResponse,
        GetCustomerProfileResponse,
    ],
)
@pytest.mark.parametrize("code", ["E00007", "E00011", "E00013"])
def test_credentials_and_invalid_fields_are_unavailable_for_the_operator(
    code: str, response_type: type[Any]
) -> None:
    body = {"messages": {"resultCode": "Error", "message": [{"code": code, "text": "no"}]}}
    error = unavailable(body, response_type)

    assert error.code == code
    # Counted by the breaker and answered 503, as an unreachable processor is,
    # but never retried: only the operator can fix it.
    assert isinstance(error, NotSentError)
    assert isinstance(error, OperatorError)


def test_reason_13_wrong_environment_is_unavailable_for_the_operator() -> None:
    body = {
        "transactionResponse": {
            "responseCode": "3",
            "transId": "0",
            "errors": [
                {
                    "errorCode": "13",
                    "errorText": "The merchant login ID or password is invalid.",
                }
            ],
        },
        "messages": UNSUCCESSFUL,
    }
    assert unavailable(body, CreateTransactionResponse).code == "reason 13"


def test_an_error_without_a_transaction_response_is_a_processor_error() -> None:
    body = {"messages": UNSUCCESSFUL}
    result = answers.transaction_result(
        decode(msgspec.json.encode(body), CreateTransactionResponse)
    )

    assert result.outcome is Outcome.ERROR
    assert result.reason_code == "E00027"
    assert result.processor_transaction_id is None


def details_answer(**transaction: Any) -> GetTransactionDetailsResponse:
    fields: dict[str, Any] = {
        "transId": "80000000001",
        "submitTimeUTC": "2026-12-01T17:36:50.1234567Z",
        "submitTimeLocal": "2026-12-01T09:36:50.1234567",
        "transactionType": "authCaptureTransaction",
        "transactionStatus": "capturedPendingSettlement",
        "responseCode": 1,
        "responseReasonCode": 1,
        "authCode": "QWE123",
        "order": {"invoiceNumber": "txn_1"},
        "authAmount": 15.00,
        "settleAmount": 15.00,
        "payment": {"creditCard": {"cardNumber": "XXXX1111", "expirationDate": "XXXX"}},
    }
    fields.update(transaction)
    body = {"transaction": fields, "transrefId": "txn_1", "messages": OK}
    return decode(msgspec.json.encode(body), GetTransactionDetailsResponse)


def test_transaction_details_in_the_ports_words() -> None:
    found = answers.transaction_details(details_answer(), "USD")

    assert found is not None
    assert found.processor_transaction_id == "80000000001"
    assert found.reference == "txn_1"
    assert found.kind == "purchase"
    assert found.status == "capturedPendingSettlement"
    assert (found.amount, found.settled_amount) == (1500, 1500)  # captured, not yet settled
    assert found.reason_code is None
    assert found.submitted_at == datetime(2026, 12, 1, 17, 36, 50, 123456, tzinfo=UTC)
    assert found.settled_at is None
    assert found.parent_processor_transaction_id is None


def test_a_settled_refund_in_the_ports_words() -> None:
    found = answers.transaction_details(
        details_answer(
            transactionType="refundTransaction",
            transactionStatus="refundSettledSuccessfully",
            refTransId="80000000001",
            authAmount=0.00,
            settleAmount=5.00,
            batch={
                "batchId": "9000001",
                "settlementTimeUTC": "2026-12-02T00:05:01Z",
                "settlementState": "settledSuccessfully",
            },
        ),
        "USD",
    )

    assert found is not None
    assert found.kind == "refund"
    assert (found.amount, found.settled_amount) == (500, 500)
    assert found.parent_processor_transaction_id == "80000000001"
    assert found.settled_at == datetime(2026, 12, 2, 0, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "held"),
    [
        ("FDSPendingReview", True),
        ("FDSAuthorizedPendingReview", True),
        ("underReview", True),
        ("capturedPendingSettlement", False),
        ("approvedReview", False),
    ],
)
def test_fraud_statuses_are_held_for_review(status: str, held: bool) -> None:
    found = answers.transaction_details(
        details_answer(transactionStatus=status, responseCode=4, responseReasonCode=252), "USD"
    )

    assert found is not None
    assert answers.is_held(found.status) is held
    assert found.reason_code == "252"


def test_an_unknown_transaction_is_none() -> None:
    body = {
        "messages": {
            "resultCode": "Error",
            "message": [{"code": "E00040", "text": "The record cannot be found."}],
        }
    }
    assert (
        answers.transaction_details(
            decode(msgspec.json.encode(body), GetTransactionDetailsResponse), "USD"
        )
        is None
    )


def test_a_customer_profile_gives_its_ids_and_a_duplicate_is_rejected() -> None:
    created = {
        "customerProfileId": "500123",
        "customerPaymentProfileIdList": ["600456"],
        "customerShippingAddressIdList": [],
        "validationDirectResponseList": [],
        "messages": OK,
    }
    duplicate = {
        "customerPaymentProfileIdList": [],
        "messages": {
            "resultCode": "Error",
            "message": [{"code": "E00039", "text": "A duplicate record already exists."}],
        },
    }

    assert answers.customer_profile_ids(
        decode(msgspec.json.encode(created), CreateCustomerProfileResponse)
    ) == ("500123", "600456")
    with pytest.raises(RequestRejectedError) as rejected:
        answers.customer_profile_ids(
            decode(msgspec.json.encode(duplicate), CreateCustomerProfileResponse)
        )
    assert rejected.value.reason_code == "E00039"


def test_deleting_a_profile_that_is_gone_is_done() -> None:
    gone = {"messages": {"resultCode": "Error", "message": [{"code": "E00040", "text": "gone"}]}}
    refused = {"messages": {"resultCode": "Error", "message": [{"code": "E00001", "text": "x"}]}}

    answers.profile_deleted(
        decode(msgspec.json.encode({"messages": OK}), DeleteCustomerProfileResponse)
    )
    answers.profile_deleted(decode(msgspec.json.encode(gone), DeleteCustomerProfileResponse))
    with pytest.raises(RequestRejectedError):
        answers.profile_deleted(decode(msgspec.json.encode(refused), DeleteCustomerProfileResponse))


def summary(trans_id: str, invoice: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "transId": trans_id,
        "submitTimeUTC": "2026-12-01T17:36:50Z",
        "submitTimeLocal": "2026-12-01T09:36:50",
        "transactionStatus": "capturedPendingSettlement",
        "accountType": "Visa",
        "accountNumber": "XXXX1111",
        "settleAmount": 15.00,
    }
    if invoice is not None:
        row["invoiceNumber"] = invoice
    return row


def test_a_timed_out_call_is_found_by_its_invoice_number_page_by_page() -> None:
    page = {
        "transactions": [
            summary("80000000003", "txn_other"),
            summary("80000000002", "txn_mine"),
            summary("80000000001", None),
        ],
        "totalNumInResultSet": 5,
        "messages": OK,
    }
    listed = decode(msgspec.json.encode(page), TransactionListResponse)

    assert [row.trans_id for row in answers.with_reference(listed, "txn_mine")] == ["80000000002"]
    assert answers.with_reference(listed, "txn_absent") == []
    assert answers.has_more_pages(listed, page=1, limit=3)
    assert not answers.has_more_pages(listed, page=2, limit=3)


def test_empty_lists_are_empty_not_errors() -> None:
    none_found = {
        "messages": {
            "resultCode": "Ok",
            "message": [{"code": "I00004", "text": "No records found."}],
        }
    }
    listed = decode(msgspec.json.encode(none_found), TransactionListResponse)
    batches = decode(msgspec.json.encode(none_found), GetSettledBatchListResponse)

    assert answers.with_reference(listed, "txn_mine") == []
    assert not answers.has_more_pages(listed, page=1, limit=1000)
    assert answers.settled_batches(batches) == []
