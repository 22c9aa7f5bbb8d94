"""Authorize.Net's answers in the port's words (ANET.md §2).

- `responseCode` 1 approves; 2 declines, with the reason code as the decline
  code; 4 holds for review, as do reasons 193/252/253; 3 is an error, except the
  card's own faults (invalid number or expiry, AVS and card-code filters), which
  the gateway answers as declines (402) like the simulator does.
- Reasons 19-23 and 57-63 (processing errors) and 11 (the duplicate window) are
  processor errors whatever the response code; 11's text says so by name.
- 310/311 (already voided / captured) repeat something done: approved, with
  `already_done`, never new money.
- E00007 / reason 13 (credentials, environment), E00011 (a reporting API not
  enabled) and E00013 raise `AuthorizeNetUnavailableError`: a breaker failure
  and an operator's error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

import structlog

from gateway.processors.authorize_net.errors import AuthorizeNetUnavailableError
from gateway.processors.authorize_net.messages import (
    Batch,
    CreateCustomerProfileResponse,
    CreateTransactionResponse,
    DeleteCustomerProfileResponse,
    GetCustomerProfileResponse,
    GetSettledBatchListResponse,
    GetTransactionDetailsResponse,
    Response,
    TransactionDetails,
    TransactionListResponse,
    TransactionResponse,
    TransactionSummary,
)
from gateway.processors.authorize_net.wire import MalformedResponseError, amount_from_wire
from gateway.processors.port import (
    Outcome,
    ProcessorResult,
    ProcessorTransaction,
    RequestRejectedError,
)

_log = structlog.get_logger("gateway.authorize_net")

APPROVED: Final = "1"
DECLINED: Final = "2"
ERROR: Final = "3"
HELD: Final = "4"

DUPLICATE: Final = "11"
BAD_CREDENTIALS: Final = "13"
ALREADY_VOIDED: Final = "310"
ALREADY_CAPTURED: Final = "311"
ALREADY_DONE: Final = frozenset({ALREADY_VOIDED, ALREADY_CAPTURED})
PROCESSING_ERRORS: Final = frozenset(str(n) for n in (*range(19, 24), *range(57, 64)))
HELD_REASONS: Final = frozenset({"193", "252", "253"})
# Errors (responseCode 3) that are the card's fault: the cardholder can act on them.
CARD_FAULTS: Final = frozenset({"6", "7", "8", "17", "27", "44", "45", "65"})

AUTHENTICATION_FAILED: Final = "E00007"
# The Transaction Details API is off on the account: reading it as "not found"
# would make reconciliation fail a charge that landed.
ACCESS_DENIED: Final = "E00011"
INVALID_FIELD: Final = "E00013"
UNAVAILABLE_CODES: Final = frozenset({AUTHENTICATION_FAILED, ACCESS_DENIED, INVALID_FIELD})
DUPLICATE_PROFILE: Final = "E00039"
NOT_FOUND: Final = "E00040"
NO_RECORDS: Final = "I00004"

FRAUD_REVIEW_STATUSES: Final = frozenset(
    {"FDSPendingReview", "FDSAuthorizedPendingReview", "underReview"}
)

# Statuses in which no money is captured, whatever settleAmount says.
NOTHING_CAPTURED: Final = FRAUD_REVIEW_STATUSES | frozenset(
    {
        "authorizedPendingCapture",
        "authorizedPendingRelease",
        "voided",
        "declined",
        "expired",
        "failedReview",
        "communicationError",
        "generalError",
    }
)

KIND_BY_TRANSACTION_TYPE: Final = {
    "authCaptureTransaction": "purchase",
    "captureOnlyTransaction": "purchase",
    "authOnlyTransaction": "authorization",
    "priorAuthCaptureTransaction": "capture",
    "refundTransaction": "refund",
    "voidTransaction": "void",
}


def raise_if_unavailable(response: Response) -> None:
    """Raise (and log for the operator) when Authorize.Net refused us, not the
    payment: wrong credentials or environment, or a field it will not take."""
    if response.ok:
        return
    for message in response.messages.message:
        if message.code in UNAVAILABLE_CODES:
            _refuse(message.code, message.text)
    if isinstance(response, CreateTransactionResponse) and response.transaction_response:
        for error in response.transaction_response.errors:
            if error.error_code == BAD_CREDENTIALS:
                _refuse(f"reason {BAD_CREDENTIALS}", error.error_text)


def transaction_result(response: CreateTransactionResponse) -> ProcessorResult:
    """The port's result of a createTransactionRequest's answer."""
    raise_if_unavailable(response)
    answer = response.transaction_response
    if answer is None:
        # Refused as a whole (E00027...): no transaction was made.
        first = response.messages.message[0] if response.messages.message else None
        return ProcessorResult(
            outcome=Outcome.ERROR,
            processor_transaction_id=None,
            reason_code=first.code if first else None,
            reason_text=first.text if first else None,
        )
    reason_code, reason_text = _reason(answer)
    outcome = _outcome(answer.response_code, reason_code)
    if reason_code == DUPLICATE:
        reason_text = (
            f"duplicate transaction (reason 11, Authorize.Net's duplicate window): {reason_text}"
        )
    already_done = outcome is Outcome.APPROVED and reason_code in ALREADY_DONE
    return ProcessorResult(
        outcome=outcome,
        processor_transaction_id=_transaction_id(answer, outcome),
        reason_code=None if outcome is Outcome.APPROVED and not already_done else reason_code,
        reason_text=None if outcome is Outcome.APPROVED and not already_done else reason_text,
        auth_code=answer.auth_code or None,
        avs_result=answer.avs_result_code or None,
        cvv_result=answer.cvv_result_code or None,
        already_done=already_done,
    )


def transaction_details(
    response: GetTransactionDetailsResponse, currency: str
) -> ProcessorTransaction | None:
    """getTransactionDetails' answer; None when Authorize.Net has no such
    transaction. Amounts come back as decimals in the account's currency."""
    raise_if_unavailable(response)
    details = response.transaction
    if details is None:
        if response.ok or NOT_FOUND in response.codes:
            return None
        first = response.messages.message[0] if response.messages.message else None
        raise MalformedResponseError(
            f"getTransactionDetails refused: {first.code if first else '?'}"
            f" {first.text if first else ''}"
        )
    kind = KIND_BY_TRANSACTION_TYPE.get(details.transaction_type, details.transaction_type)
    amount = details.settle_amount if kind == "refund" else details.auth_amount
    settled_at = None
    if details.batch is not None and details.batch.settlement_time_utc:
        settled_at = parse_utc(details.batch.settlement_time_utc)
    return ProcessorTransaction(
        processor_transaction_id=details.trans_id,
        reference=response.transref_id or (details.order.invoice_number if details.order else None),
        kind=kind,
        status=details.transaction_status,
        amount=amount_from_wire(amount, currency),
        settled_amount=_settled_amount(details, currency),
        currency=currency,
        reason_code=_details_reason(details),
        auth_code=details.auth_code or None,
        submitted_at=parse_utc(details.submit_time_utc),
        settled_at=settled_at,
        parent_processor_transaction_id=details.ref_trans_id or None,
    )


def with_reference(response: TransactionListResponse, reference: str) -> list[TransactionSummary]:
    """The transactions of one list page made with our reference (the invoice
    number: the lists do not show the refId). A refund shares none with its
    charge, so this is how a timed-out call is found before anything is decided."""
    _require_list(response)
    return [row for row in response.transactions if row.invoice_number == reference]


def has_more_pages(response: TransactionListResponse, *, page: int, limit: int) -> bool:
    _require_list(response)
    total = response.total_num_in_result_set
    if total is None:
        return len(response.transactions) >= limit
    return page * limit < total


def settled_batches(response: GetSettledBatchListResponse) -> list[Batch]:
    """The batches of the span; none is an empty list, not an error (I00004)."""
    raise_if_unavailable(response)
    if not response.ok and NO_RECORDS not in response.codes:
        code, text = _first_message(response)
        raise MalformedResponseError(f"getSettledBatchList refused: {code} {text}")
    return response.batch_list


def is_held(status: str) -> bool:
    """A transactionStatus of a transaction the fraud filters hold for review."""
    return status in FRAUD_REVIEW_STATUSES


def customer_profile_ids(response: CreateCustomerProfileResponse) -> tuple[str, str]:
    """The new CIM customer profile and payment profile ids."""
    raise_if_unavailable(response)
    ids = response.customer_payment_profile_id_list
    if not response.ok or not response.customer_profile_id or not ids:
        code, text = _first_message(response)
        raise RequestRejectedError(
            f"Authorize.Net refused the card: {text}",
            reason_code=_validation_reason(response) or code,
        )
    return response.customer_profile_id, ids[0]


def _validation_reason(response: CreateCustomerProfileResponse) -> str | None:
    """The card's reason code (the third field of the direct response), when
    Authorize.Net says why it refused the card rather than only E00027."""
    for direct in response.validation_direct_response_list:
        fields = direct.split(",")
        if len(fields) > 2 and fields[2].strip().isdigit():
            return fields[2].strip()
    return None


def is_duplicate_profile(response: CreateCustomerProfileResponse) -> bool:
    """E00039: a profile with our merchantCustomerId (the pm_ id) exists, so an
    earlier call for this payment method landed; never make a second."""
    raise_if_unavailable(response)
    return not response.ok and DUPLICATE_PROFILE in response.codes


# "A duplicate record with ID 1505813512 already exists."
_DUPLICATE_ID: Final = re.compile(r"\bID\s+(\d+)")


def duplicate_profile_id(response: CreateCustomerProfileResponse) -> str | None:
    """The existing customer profile's id, when the E00039 answer tells it (in
    its own element, or in the message's text as Authorize.Net writes it)."""
    if response.customer_profile_id:
        return response.customer_profile_id
    for message in response.messages.message:
        if message.code == DUPLICATE_PROFILE and (found := _DUPLICATE_ID.search(message.text)):
            return found.group(1)
    return None


def payment_profile_of(
    response: GetCustomerProfileResponse, *, merchant_customer_id: str, last4: str
) -> str:
    """The payment profile holding our card in an existing customer profile: it
    must be ours (our pm_ id) and hold a card ending in these 4 digits."""
    raise_if_unavailable(response)
    profile = response.profile
    if profile is None or profile.merchant_customer_id != merchant_customer_id:
        code, text = _first_message(response)
        raise RequestRejectedError(
            f"Authorize.Net reported a duplicate profile that is not {merchant_customer_id}'s"
            f" ({code}: {text})",
            reason_code=DUPLICATE_PROFILE,
        )
    for payment_profile in profile.payment_profiles:
        card = payment_profile.payment.credit_card if payment_profile.payment else None
        if card is not None and card.card_number.endswith(last4):
            return payment_profile.customer_payment_profile_id
    raise RequestRejectedError(
        f"{merchant_customer_id}'s Authorize.Net profile holds another card",
        reason_code=DUPLICATE_PROFILE,
    )


def profile_deleted(response: DeleteCustomerProfileResponse) -> None:
    """A profile that is already gone (E00040) is as deleted as we want it."""
    raise_if_unavailable(response)
    if response.ok or NOT_FOUND in response.codes:
        return
    code, text = _first_message(response)
    raise RequestRejectedError(f"Authorize.Net kept the profile: {text}", reason_code=code)


def parse_utc(text: str) -> datetime:
    """Authorize.Net's xs:dateTime in UTC, with up to 7 fractional digits and
    with or without the "Z"."""
    stamp = text.strip().removesuffix("Z")
    whole, dot, fraction = stamp.partition(".")
    if dot:
        stamp = f"{whole}.{fraction[:6].ljust(6, '0')}"
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError as error:
        raise MalformedResponseError(f"unreadable time {text!r}") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _outcome(response_code: str, reason_code: str | None) -> Outcome:
    if reason_code in PROCESSING_ERRORS or reason_code == DUPLICATE:
        return Outcome.ERROR
    if response_code == HELD or reason_code in HELD_REASONS:
        return Outcome.HELD
    if response_code == APPROVED:
        return Outcome.APPROVED
    if response_code == DECLINED or reason_code in CARD_FAULTS:
        return Outcome.DECLINED
    return Outcome.ERROR


def _reason(answer: TransactionResponse) -> tuple[str | None, str | None]:
    if answer.errors:
        return answer.errors[0].error_code or None, answer.errors[0].error_text or None
    if answer.messages:
        return answer.messages[0].code or None, answer.messages[0].description or None
    return None, None


def _transaction_id(answer: TransactionResponse, outcome: Outcome) -> str | None:
    """The transaction the call made or acted on. Authorize.Net echoes the
    refTransID of a follow-up whatever happened: it names the transaction only
    when the call was approved (310/311 may come with transId "0"); a refused
    follow-up made nothing."""
    if answer.trans_id and answer.trans_id != "0":
        return answer.trans_id
    if outcome is Outcome.APPROVED and answer.ref_trans_id and answer.ref_trans_id != "0":
        return answer.ref_trans_id
    return None


def _details_reason(details: TransactionDetails) -> str | None:
    reason = str(details.response_reason_code)
    return None if details.response_code == 1 and reason == "1" else reason


def _settled_amount(details: TransactionDetails, currency: str) -> int:
    """What was captured: settleAmount once captured, before its batch settles
    too (the port's meaning, which reconciliation reads for a capture made
    outside the gateway); nothing while only authorized, held or voided."""
    if details.transaction_status in NOTHING_CAPTURED:
        return 0
    return amount_from_wire(details.settle_amount, currency)


def _require_list(response: TransactionListResponse) -> None:
    raise_if_unavailable(response)
    if not response.ok and NO_RECORDS not in response.codes:
        code, text = _first_message(response)
        raise MalformedResponseError(f"transaction list refused: {code} {text}")


def _first_message(response: Response) -> tuple[str | None, str]:
    if not response.messages.message:
        return None, "no message"
    first = response.messages.message[0]
    return first.code, first.text


def _refuse(code: str, text: str) -> None:
    _log.error("authorize_net.operator_error", code=code, message=text)
    raise AuthorizeNetUnavailableError(code, text)
