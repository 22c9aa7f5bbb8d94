"""createTransactionRequest: the five transaction types the connector sends,
run through the simulator's port, answered as Authorize.Net's transactionResponse
(read back by `processors/authorize_net/answers.py`).

A charge's reference is its refId (else its invoice number): the simulator keeps
one, and reporting shows it as both. The simulator's "lost" outcomes
(NotSentError, OutcomeUnknownError) are not caught here: the server drops the
connection for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from gateway.core.card_numbers import detect_brand
from gateway.core.money import from_decimal, is_supported
from gateway.processors.port import (
    Address,
    CaptureRequest,
    Card,
    ChargeRequest,
    Outcome,
    ProcessorResult,
    RefundRequest,
    VoidRequest,
)
from gateway.processors.simulator.identifiers import encode_token, parse_transaction_id
from gateway.sandbox import answers
from gateway.sandbox.answers import CallError, TransactionRefused
from gateway.sandbox.cards import card_from
from gateway.sandbox.fields import child, decimal, required_child, required_text, text
from gateway.sandbox.parts import ACCOUNT_CURRENCY, Parts

RESPONSE_CODES: Final = {
    Outcome.APPROVED: "1",
    Outcome.DECLINED: "2",
    Outcome.ERROR: "3",
    Outcome.HELD: "4",
}
APPROVED_TEXT: Final = "This transaction has been approved."
INVALID_AMOUNT: Final = ("5", "A valid amount is required.")
CURRENCY_NOT_ACCEPTED: Final = ("39", "The supplied currency code is not supported.")
PROFILE_NOT_FOUND: Final = "E00040"
CHARGES: Final = ("authCaptureTransaction", "authOnlyTransaction")


@dataclass(frozen=True)
class _Answered:
    result: ProcessorResult
    ref_trans_id: str | None = None
    card_last4: str | None = None  # of the card sent, when no transaction shows one
    card_brand: str | None = None


async def create_transaction(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    request = required_child(body, "transactionRequest")
    transaction_type = required_text(request, "transactionType")
    order = child(request, "order")
    reference = ref_id or text(order, "invoiceNumber") or ""
    try:
        if transaction_type in CHARGES:
            answered = await _charge(parts, request, reference, transaction_type)
        elif transaction_type == "priorAuthCaptureTransaction":
            answered = await _capture(parts, request, reference)
        elif transaction_type == "refundTransaction":
            answered = await _refund(parts, request, reference)
        elif transaction_type == "voidTransaction":
            answered = await _void(parts, request, reference)
        else:
            raise CallError(
                answers.INVALID_FIELD, f"The sandbox does not support {transaction_type}."
            )
    except TransactionRefused as refused:
        result = ProcessorResult(Outcome.ERROR, None, refused.code, refused.text)
        answered = _Answered(result, ref_trans_id=text(request, "refTransId"))
    if answered.result.reason_code == PROFILE_NOT_FOUND:
        raise CallError(*answers.NOT_FOUND)
    return await _answer(parts, answered, ref_id)


async def _charge(
    parts: Parts, request: dict[str, Any], reference: str, transaction_type: str
) -> _Answered:
    currency = _currency(request)
    amount = _amount(request, currency, required=True)
    assert amount is not None
    payment, profile = child(request, "payment"), child(request, "profile")
    bill_to = child(request, "billTo")
    customer = child(request, "customer")
    card: Card | None = None
    token = cvv = None
    if payment is not None:
        card = card_from(required_child(payment, "creditCard"), bill_to)
    elif profile is not None:
        payment_profile = required_child(profile, "paymentProfile")
        customer_id = parse_transaction_id(required_text(profile, "customerProfileId"))
        payment_id = parse_transaction_id(required_text(payment_profile, "paymentProfileId"))
        if customer_id is None or payment_id is None:
            raise CallError(*answers.NOT_FOUND)
        token, cvv = encode_token(customer_id, payment_id), text(payment_profile, "cardCode")
    else:
        raise CallError(answers.SCHEMA, "The element 'payment' or 'profile' is required.")
    charge = ChargeRequest(
        reference=reference,
        amount=amount,
        currency=currency,
        card=card,
        token=token,
        cvv=cvv,
        billing_address=_address(bill_to),
        customer_id=text(customer, "id"),
        customer_email=text(customer, "email"),
        description=text(child(request, "order"), "description"),
    )
    if transaction_type == "authCaptureTransaction":
        result = await parts.simulator.purchase(charge)
    else:
        result = await parts.simulator.authorize(charge)
    return _Answered(result, card_last4=card.last4 if card else None, card_brand=_brand(card))


async def _capture(parts: Parts, request: dict[str, Any], reference: str) -> _Answered:
    target = required_text(request, "refTransId")
    currency = await _target_currency(parts, request, target)
    amount = _amount(request, currency, required=False)
    result = await parts.simulator.capture(
        CaptureRequest(reference, processor_transaction_id=target, amount=amount, currency=currency)
    )
    return _Answered(result, ref_trans_id=target)


async def _refund(parts: Parts, request: dict[str, Any], reference: str) -> _Answered:
    target = required_text(request, "refTransId")
    currency = await _target_currency(parts, request, target)
    amount = _amount(request, currency, required=True)
    assert amount is not None
    card = required_child(required_child(request, "payment"), "creditCard")
    last4 = required_text(card, "cardNumber")[-4:]
    result = await parts.simulator.refund(
        RefundRequest(reference, target, amount=amount, currency=currency, card_last4=last4)
    )
    return _Answered(result, ref_trans_id=target, card_last4=last4)


async def _void(parts: Parts, request: dict[str, Any], reference: str) -> _Answered:
    target = required_text(request, "refTransId")
    result = await parts.simulator.void(VoidRequest(reference, processor_transaction_id=target))
    return _Answered(result, ref_trans_id=target)


async def _answer(parts: Parts, answered: _Answered, ref_id: str | None) -> dict[str, Any]:
    result = answered.result
    brand, last4 = answered.card_brand, answered.card_last4
    transaction_id = result.processor_transaction_id
    if transaction_id is not None:
        row = await parts.reads.transaction(int(transaction_id))
        if row is not None:
            brand, last4 = row.card_brand, row.card_last4
    response: dict[str, Any] = {
        "responseCode": RESPONSE_CODES[result.outcome],
        "authCode": result.auth_code or "",
        "avsResultCode": result.avs_result or "P",
        "cvvResultCode": result.cvv_result or "",
        "cavvResultCode": "",
        "transId": transaction_id or "0",
        "refTransID": answered.ref_trans_id or "",
        "transHash": "",
        "testRequest": "0",
        "accountNumber": answers.masked(last4) if last4 else "",
        "accountType": answers.account_type(brand),
    }
    code = result.reason_code
    if result.outcome in (Outcome.APPROVED, Outcome.HELD):
        response["messages"] = [
            {"code": code or "1", "description": result.reason_text or APPROVED_TEXT}
        ]
        top = answers.OK
    else:
        response["errors"] = [{"errorCode": code or "", "errorText": result.reason_text or ""}]
        top = answers.UNSUCCESSFUL
    return answers.envelope(top, ok=top is answers.OK, ref_id=ref_id, transactionResponse=response)


def _currency(request: dict[str, Any]) -> str:
    currency = (text(request, "currencyCode") or ACCOUNT_CURRENCY).upper()
    if not is_supported(currency):
        raise TransactionRefused(*CURRENCY_NOT_ACCEPTED)
    return currency


async def _target_currency(parts: Parts, request: dict[str, Any], target: str) -> str:
    """A follow-up is in its transaction's currency unless it names one."""
    if text(request, "currencyCode"):
        return _currency(request)
    transaction_id = parse_transaction_id(target)
    row = None if transaction_id is None else await parts.reads.transaction(transaction_id)
    return ACCOUNT_CURRENCY if row is None else row.currency


def _amount(request: dict[str, Any], currency: str, *, required: bool) -> int | None:
    raw = text(request, "amount")
    if raw is None and not required:
        return None
    value = decimal(raw)
    if value is None or value <= Decimal(0):
        raise TransactionRefused(*INVALID_AMOUNT)
    try:
        return from_decimal(value, currency)
    except ValueError:
        raise TransactionRefused(*INVALID_AMOUNT) from None


def _address(bill_to: dict[str, Any] | None) -> Address | None:
    """What the triggers read (the zip); None when no zip was sent (AVS "B")."""
    postal_code = text(bill_to, "zip")
    if not postal_code:
        return None
    return Address(
        line1=text(bill_to, "address") or "",
        city=text(bill_to, "city") or "",
        postal_code=postal_code,
        country=text(bill_to, "country") or "",
        state=text(bill_to, "state"),
    )


def _brand(card: Card | None) -> str | None:
    return None if card is None else detect_brand(card.number)
