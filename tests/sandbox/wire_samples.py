"""Answers as the sandbox gives them to `wire.write_response`: the JSON shape,
strings for scalars, ArrayOf wrappers as lists, one of each call."""

from __future__ import annotations

from typing import Any, Final

OK: Final = {"resultCode": "Ok", "message": [{"code": "I00001", "text": "Successful."}]}
REF_ID: Final = "txn_01J5Z8Q4W7X2K9M3"

APPROVED: Final[dict[str, Any]] = {
    "refId": REF_ID,
    "messages": OK,
    "transactionResponse": {
        "responseCode": "1",
        "authCode": "A1B2C3",
        "avsResultCode": "Y",
        "cvvResultCode": "M",
        "cavvResultCode": "",
        "transId": "80000000001",
        "refTransID": "",
        "transHash": "",
        "testRequest": "0",
        "accountNumber": "XXXX1111",
        "accountType": "Visa",
        "messages": [{"code": "1", "description": "This transaction has been approved."}],
        "transHashSha2": "",
        "networkTransId": "NTI0000001",
    },
}

DECLINED: Final[dict[str, Any]] = {
    "refId": REF_ID,
    "messages": {
        "resultCode": "Error",
        "message": [{"code": "E00027", "text": "The transaction was unsuccessful."}],
    },
    "transactionResponse": {
        "responseCode": "2",
        "authCode": "",
        "avsResultCode": "Y",
        "cvvResultCode": "P",
        "transId": "80000000002",
        "refTransID": "",
        "accountNumber": "XXXX2222",
        "accountType": "Visa",
        "errors": [{"errorCode": "2", "errorText": "This transaction has been declined."}],
    },
}

DETAILS: Final[dict[str, Any]] = {
    "messages": OK,
    "transaction": {
        "transId": "80000000001",
        "submitTimeUTC": "2031-03-01T12:00:00.123Z",
        "submitTimeLocal": "2031-03-01T04:00:00.123",
        "transactionType": "authCaptureTransaction",
        "transactionStatus": "settledSuccessfully",
        "responseCode": "1",
        "responseReasonCode": "1",
        "responseReasonDescription": "Approval",
        "authCode": "A1B2C3",
        "AVSResponse": "Y",
        "cardCodeResponse": "M",
        "batch": {
            "batchId": "90000001",
            "settlementTimeUTC": "2031-03-02T00:00:00Z",
            "settlementTimeLocal": "2031-03-01T16:00:00",
            "settlementState": "settledSuccessfully",
        },
        "order": {"invoiceNumber": REF_ID, "description": "Order 42"},
        "authAmount": "15.00",
        "settleAmount": "15.00",
        "taxExempt": "false",
        "payment": {
            "creditCard": {"cardNumber": "XXXX1111", "expirationDate": "XXXX", "cardType": "Visa"}
        },
        "customer": {"id": "cust-42", "email": "ada@example.com"},
        "billTo": {"firstName": "Ada", "lastName": "Lovelace", "zip": "98004", "country": "US"},
        "recurringBilling": "false",
        "product": "Card Not Present",
        "marketType": "eCommerce",
    },
    "transrefId": REF_ID,
}

SUMMARY: Final[dict[str, Any]] = {
    "transId": "80000000001",
    "submitTimeUTC": "2031-03-01T12:00:00Z",
    "submitTimeLocal": "2031-03-01T04:00:00",
    "transactionStatus": "capturedPendingSettlement",
    "invoiceNumber": REF_ID,
    "firstName": "Ada",
    "lastName": "Lovelace",
    "accountType": "Visa",
    "accountNumber": "XXXX1111",
    "settleAmount": "15.00",
    "marketType": "eCommerce",
    "product": "Card Not Present",
}

ANSWERS: Final[dict[str, dict[str, Any]]] = {
    "authenticateTestResponse": {"messages": OK},
    "createTransactionResponse": APPROVED,
    "getTransactionDetailsResponse": DETAILS,
    "getUnsettledTransactionListResponse": {
        "messages": OK,
        "transactions": [SUMMARY, {**SUMMARY, "transId": "80000000003", "settleAmount": "2.50"}],
        "totalNumInResultSet": "2",
    },
    "getTransactionListResponse": {
        "messages": OK,
        "transactions": [{**SUMMARY, "transactionStatus": "settledSuccessfully"}],
        "totalNumInResultSet": "1",
    },
    "getSettledBatchListResponse": {
        "messages": OK,
        "batchList": [
            {
                "batchId": "90000001",
                "settlementTimeUTC": "2031-03-02T00:00:00Z",
                "settlementTimeLocal": "2031-03-01T16:00:00",
                "settlementState": "settledSuccessfully",
                "paymentMethod": "creditCard",
                "marketType": "eCommerce",
                "product": "Card Not Present",
            }
        ],
    },
    "createCustomerProfileResponse": {
        "messages": OK,
        "customerProfileId": "500123",
        "customerPaymentProfileIdList": ["600456"],
        "customerShippingAddressIdList": [],
        "validationDirectResponseList": [],
    },
    "deleteCustomerProfileResponse": {"messages": OK},
    "ErrorResponse": {
        "messages": {
            "resultCode": "Error",
            "message": [{"code": "E00003", "text": "The element 'x' has invalid child element."}],
        }
    },
}


def shuffled(value: Any) -> Any:
    """The same content with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {key: shuffled(value[key]) for key in reversed(value)}
    if isinstance(value, list):
        return [shuffled(item) for item in value]
    return value
