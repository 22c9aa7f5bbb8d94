"""Authorize.Net's answers as JSON-shaped dicts, keys in the XSD's order
(ANetApiResponse: refId, messages; then the call's own elements).

`wire.write_response` turns them into bytes in the request's format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from gateway.core.money import to_decimal

OK: Final = ("I00001", "Successful.")
NO_RECORDS: Final = ("I00004", "No records found.")
SCHEMA: Final = "E00003"
AUTHENTICATION: Final = (
    "E00007",
    "User authentication failed due to invalid authentication values.",
)
INVALID_FIELD: Final = "E00013"
UNSUCCESSFUL: Final = ("E00027", "The transaction was unsuccessful.")
NOT_FOUND: Final = ("E00040", "The record cannot be found.")
DUPLICATE_PROFILE: Final = "E00039"

# Authorize.Net's accountType for each brand the vault detects.
ACCOUNT_TYPES: Final = {
    "visa": "Visa",
    "mastercard": "MasterCard",
    "amex": "AmericanExpress",
    "discover": "Discover",
    "jcb": "JCB",
    "diners": "DinersClub",
    "unionpay": "ChinaUnionPay",
}


class CallError(Exception):
    """A call refused as a whole: resultCode Error with this one message."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class TransactionRefused(Exception):
    """A transaction refused before the simulator is asked (an unreadable amount,
    card or currency): a transactionResponse with this error and transId "0"."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def envelope(
    code_text: tuple[str, str], *, ok: bool, ref_id: str | None, **content: Any
) -> dict[str, Any]:
    """The answer: refId (echoed), messages, then the call's own elements (None left out)."""
    code, text = code_text
    answer: dict[str, Any] = {}
    if ref_id is not None:
        answer["refId"] = ref_id
    answer["messages"] = {
        "resultCode": "Ok" if ok else "Error",
        "message": [{"code": code, "text": text}],
    }
    answer.update((key, value) for key, value in content.items() if value is not None)
    return answer


def response_root(request_root: str) -> str:
    """createTransactionRequest -> createTransactionResponse; anything else -> ErrorResponse."""
    if request_root.endswith("Request"):
        return request_root.removesuffix("Request") + "Response"
    return "ErrorResponse"


def masked(last4: str) -> str:
    return f"XXXX{last4}"


def account_type(brand: str | None) -> str:
    return ACCOUNT_TYPES.get(brand or "", "")


def money(amount_minor: int, currency: str) -> str:
    """A decimal string by the currency's exponent ("10.00"), as amounts are sent."""
    return str(to_decimal(amount_minor, currency))


def local(moment: datetime, zone: ZoneInfo) -> str:
    """xs:dateTime in the account's own time zone, without an offset, as
    Authorize.Net writes submitTimeLocal and settlementTimeLocal."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def utc(moment: datetime) -> str:
    """xs:dateTime in UTC with milliseconds, as Authorize.Net writes submitTimeUTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
