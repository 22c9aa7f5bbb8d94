"""The official Python SDK (`authorizenet`, PyXB over XML) as a client of `gateway sandbox`.

Traps of the SDK this guards against (issue 17): it drops the first three
characters of every answer (the BOM) and breaks without it; it returns nothing
for any HTTP status >= 400; when its PyXB bindings reject an answer it logs
"Create Document Exception" and quietly falls back to lxml.objectify, so every
scenario asserts that the bindings themselves parsed the answer (`_response`);
and every new controller resets its URL to Authorize.Net's public sandbox, so
the module fixture points the SDK's constants at the local sandbox and no test
can reach a public host. It is synchronous: the sandbox serves from its own
thread or process.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from authorizenet import apicontractsv1
from authorizenet.apicontrollers import (
    authenticateTestController,
    createCustomerProfileController,
    createTransactionController,
    getTransactionDetailsController,
)
from authorizenet.constants import constants

from tests.fixtures.sandbox import RunningSandbox

VISA = "4111111111111111"
LEGACY_REASON_CARD = "4222222222222"
DECLINE_ZIP = "46282"


@pytest.fixture(autouse=True)
def local_sdk(sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "SANDBOX", sandbox.api_url)
    monkeypatch.setattr(constants, "PRODUCTION", sandbox.api_url)


def _auth(sandbox: RunningSandbox) -> Any:
    auth = apicontractsv1.merchantAuthenticationType()
    auth.name = sandbox.config.login_id
    auth.transactionKey = sandbox.config.transaction_key
    return auth


def _run(controller: Any) -> Any:
    controller.execute()
    # The bindings, not objectify's fallback, must have read the answer; what the
    # SDK hands its caller is then the objectify tree of the bindings' document.
    assert controller._response is not None, (
        f"the SDK's PyXB bindings rejected the sandbox's answer: {controller._httpResponse}"
    )
    return controller.getresponse()


def _ref() -> str:
    return f"txn_{uuid.uuid4().hex[:16]}"


def _card(number: str = VISA, code: str | None = "123") -> Any:
    card = apicontractsv1.creditCardType()
    card.cardNumber = number
    card.expirationDate = "2035-12"
    if code is not None:
        card.cardCode = code
    payment = apicontractsv1.paymentType()
    payment.creditCard = card
    return payment


def _transaction(
    sandbox: RunningSandbox, transaction_type: str, *, ref_id: str | None = None, **fields: Any
) -> Any:
    request = apicontractsv1.transactionRequestType()
    request.transactionType = transaction_type
    for name, value in fields.items():
        setattr(request, name, value)
    envelope = apicontractsv1.createTransactionRequest()
    envelope.merchantAuthentication = _auth(sandbox)
    envelope.refId = ref_id or _ref()
    envelope.transactionRequest = request
    return _run(createTransactionController(envelope))


def _order(reference: str) -> Any:
    order = apicontractsv1.orderType()
    order.invoiceNumber = reference
    return order


def _charge(
    sandbox: RunningSandbox,
    amount: str,
    *,
    capture: bool = True,
    payment: Any = None,
    zip_code: str | None = None,
    ref_id: str | None = None,
) -> Any:
    reference = ref_id or _ref()
    fields: dict[str, Any] = {
        "amount": Decimal(amount),
        "payment": payment or _card(),
        "order": _order(reference),
    }
    if zip_code is not None:
        bill_to = apicontractsv1.customerAddressType()
        bill_to.firstName = "Ada"
        bill_to.lastName = "Lovelace"
        bill_to.zip = zip_code
        fields["billTo"] = bill_to
    kind = "authCaptureTransaction" if capture else "authOnlyTransaction"
    return _transaction(sandbox, kind, ref_id=reference, **fields)


def _settle_now(sandbox: RunningSandbox) -> None:
    """`gateway sandbox settle --now`, through the control surface it calls."""
    answer = httpx.post(
        f"{sandbox.base_url}/_sandbox/settle",
        json={"now": True},
        auth=sandbox.basic_auth,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def _approved(response: Any) -> str:
    assert response.messages.resultCode == "Ok", response.messages.message[0].text
    answer = response.transactionResponse
    assert str(answer.responseCode) == "1"
    return str(answer.transId)


def _error_code(response: Any) -> str:
    return str(response.transactionResponse.errors.error[0].errorCode)


def test_authenticate_test_request(sandbox: RunningSandbox) -> None:
    request = apicontractsv1.authenticateTestRequest()
    request.merchantAuthentication = _auth(sandbox)
    response = _run(authenticateTestController(request))
    assert response.messages.resultCode == "Ok"
    assert response.messages.message[0].code == "I00001"


def test_wrong_credentials_are_e00007(sandbox: RunningSandbox) -> None:
    request = apicontractsv1.authenticateTestRequest()
    auth = _auth(sandbox)
    auth.transactionKey = "0000000000000000"
    request.merchantAuthentication = auth
    response = _run(authenticateTestController(request))
    assert response.messages.resultCode == "Error"
    assert response.messages.message[0].code == "E00007"


def test_auth_capture_is_approved_with_a_sandbox_id(sandbox: RunningSandbox) -> None:
    response = _charge(sandbox, "12.34")
    transaction_id = _approved(response)
    assert int(transaction_id) >= 80_000_000_001
    assert str(response.transactionResponse.accountNumber) == "XXXX1111"


def test_auth_only_then_a_partial_prior_auth_capture_keeps_the_id(sandbox: RunningSandbox) -> None:
    authorized = _approved(_charge(sandbox, "50.00", capture=False))
    captured = _transaction(
        sandbox, "priorAuthCaptureTransaction", amount=Decimal("20.00"), refTransId=authorized
    )
    assert _approved(captured) == authorized


def test_void(sandbox: RunningSandbox) -> None:
    authorized = _approved(_charge(sandbox, "9.99", capture=False))
    voided = _transaction(sandbox, "voidTransaction", refTransId=authorized)
    assert _approved(voided) == authorized


def _refund(sandbox: RunningSandbox, transaction_id: str, amount: str) -> Any:
    card = apicontractsv1.creditCardType()
    card.cardNumber = VISA[-4:]
    card.expirationDate = "XXXX"
    payment = apicontractsv1.paymentType()
    payment.creditCard = card
    reference = _ref()
    return _transaction(
        sandbox,
        "refundTransaction",
        ref_id=reference,
        amount=Decimal(amount),
        payment=payment,
        refTransId=transaction_id,
        order=_order(reference),
    )


def test_refunds_before_and_after_settlement(sandbox: RunningSandbox) -> None:
    charged = _approved(_charge(sandbox, "30.00"))
    before = _refund(sandbox, charged, "10.00")
    assert _error_code(before) == "54"
    _settle_now(sandbox)
    above = _refund(sandbox, charged, "30.01")
    assert _error_code(above) == "55"
    refunded = _refund(sandbox, charged, "10.00")
    assert _approved(refunded) != charged


def test_transaction_details_carry_our_ref_id(sandbox: RunningSandbox) -> None:
    reference = _ref()
    charged = _approved(_charge(sandbox, "7.00", ref_id=reference))
    request = apicontractsv1.getTransactionDetailsRequest()
    request.merchantAuthentication = _auth(sandbox)
    request.transId = charged
    response = _run(getTransactionDetailsController(request))
    assert response.messages.resultCode == "Ok"
    assert str(response.transrefId) == reference
    details = response.transaction
    assert str(details.transId) == charged
    assert str(details.transactionStatus) == "capturedPendingSettlement"
    assert Decimal(str(details.authAmount)) == Decimal("7.00")


def test_a_customer_profile_is_created_and_charged(sandbox: RunningSandbox) -> None:
    payment_profile = apicontractsv1.customerPaymentProfileType()
    payment_profile.customerType = "individual"
    payment_profile.payment = _card()
    profile = apicontractsv1.customerProfileType()
    profile.merchantCustomerId = f"pm_{uuid.uuid4().hex[:16]}"
    profile.email = "ada@example.com"
    profile.paymentProfiles = [payment_profile]
    request = apicontractsv1.createCustomerProfileRequest()
    request.merchantAuthentication = _auth(sandbox)
    request.profile = profile
    created = _run(createCustomerProfileController(request))
    assert created.messages.resultCode == "Ok", created.messages.message[0].text
    customer_profile_id = str(created.customerProfileId)
    payment_profile_id = str(created.customerPaymentProfileIdList.numericString[0])
    assert customer_profile_id.isdigit()
    assert payment_profile_id.isdigit()

    charge_profile = apicontractsv1.customerProfilePaymentType()
    charge_profile.customerProfileId = customer_profile_id
    charge_profile.paymentProfile = apicontractsv1.paymentProfile()
    charge_profile.paymentProfile.paymentProfileId = payment_profile_id
    reference = _ref()
    charged = _transaction(
        sandbox,
        "authCaptureTransaction",
        ref_id=reference,
        amount=Decimal("15.00"),
        profile=charge_profile,
        order=_order(reference),
    )
    _approved(charged)


def test_zip_46282_is_declined(sandbox: RunningSandbox) -> None:
    response = _charge(sandbox, "5.00", zip_code=DECLINE_ZIP)
    assert str(response.transactionResponse.responseCode) == "2"


def test_the_legacy_card_declines_with_the_dollar_amount_as_reason(sandbox: RunningSandbox) -> None:
    response = _charge(sandbox, "2.00", payment=_card(LEGACY_REASON_CARD, code=None))
    assert str(response.transactionResponse.responseCode) == "2"
    assert _error_code(response) == "2"
