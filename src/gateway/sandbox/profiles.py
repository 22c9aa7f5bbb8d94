"""CIM: createCustomerProfileRequest (one payment profile, a card) and
deleteCustomerProfileRequest, on the simulator's payment methods. The
merchantCustomerId is the simulator's reference (the connector's pm_ id)."""

from __future__ import annotations

from typing import Any, Final

from gateway.processors.port import RequestRejectedError, TokenizeRequest
from gateway.processors.simulator.identifiers import encode_token, parse_token, parse_transaction_id
from gateway.sandbox import answers
from gateway.sandbox.answers import CallError, TransactionRefused
from gateway.sandbox.cards import card_from
from gateway.sandbox.fields import child, required_child, required_text, text
from gateway.sandbox.parts import Parts

PROFILE_REFUSED: Final = answers.UNSUCCESSFUL[0]


async def create_customer_profile(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    profile = required_child(body, "profile")
    reference = required_text(profile, "merchantCustomerId")
    payment_profile = required_child(profile, "paymentProfiles")
    bill_to = child(payment_profile, "billTo")
    credit_card = required_child(required_child(payment_profile, "payment"), "creditCard")
    existing = await parts.reads.live_payment_method(reference=reference)
    if existing is not None:
        raise CallError(
            answers.DUPLICATE_PROFILE,
            f"A duplicate record with ID {existing.customer_profile_id} already exists.",
        )
    try:
        card = card_from(credit_card, bill_to)
        stored = await parts.simulator.tokenize(
            TokenizeRequest(reference=reference, card=card, customer_email=text(profile, "email"))
        )
    except TransactionRefused as refused:
        return _card_refused(ref_id, refused.code, refused.text)
    except RequestRejectedError as rejected:
        return _card_refused(ref_id, rejected.reason_code or "", str(rejected))
    ids = parse_token(stored.token)
    assert ids is not None  # the simulator's own token
    customer_profile_id, payment_profile_id = ids
    return answers.envelope(
        answers.OK,
        ok=True,
        ref_id=ref_id,
        customerProfileId=str(customer_profile_id),
        customerPaymentProfileIdList=[str(payment_profile_id)],
    )


def _card_refused(ref_id: str | None, reason_code: str, reason_text: str) -> dict[str, Any]:
    """E00027, the card's own reason in a direct response (responseCode, subcode,
    reason code, reason text, ...) as Authorize.Net reports a refused card."""
    direct = f"3,1,{reason_code},{reason_text.replace(',', ' ')},,P,0,none"
    return answers.envelope(
        (PROFILE_REFUSED, reason_text),
        ok=False,
        ref_id=ref_id,
        validationDirectResponseList=[direct],
    )


async def delete_customer_profile(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    customer_profile_id = parse_transaction_id(required_text(body, "customerProfileId"))
    method = None
    if customer_profile_id is not None:
        method = await parts.reads.live_payment_method(customer_profile_id=customer_profile_id)
    if method is None:
        raise CallError(*answers.NOT_FOUND)
    await parts.simulator.delete_payment_method(encode_token(method.customer_profile_id, method.id))
    return answers.envelope(answers.OK, ok=True, ref_id=ref_id)
