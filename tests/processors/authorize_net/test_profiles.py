"""A repeated tokenization (E00039: a profile with our pm_ id exists) resolves the
profile the first call made, never a second; when it cannot, it says so."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.messages import (
    CreateCustomerProfileResponse,
    GetCustomerProfileResponse,
)
from gateway.processors.authorize_net.wire import decode
from gateway.processors.port import RequestRejectedError
from tests.processors.authorize_net.local_server import BOM
from tests.processors.authorize_net.support import AUTH, assert_request_order

PM = "pm_01J5Z8Q4W7X2K9M3"


def duplicate(text: str, **fields: Any) -> CreateCustomerProfileResponse:
    body = {
        "customerPaymentProfileIdList": [],
        "customerShippingAddressIdList": [],
        "validationDirectResponseList": [],
        "messages": {"resultCode": "Error", "message": [{"code": "E00039", "text": text}]},
        **fields,
    }
    return decode(BOM + msgspec.json.encode(body), CreateCustomerProfileResponse)


def test_a_duplicate_tells_the_existing_profile_in_its_text_or_its_element() -> None:
    told_in_text = duplicate("A duplicate record with ID 1505813512 already exists.")
    told_in_element = duplicate("A duplicate record already exists.", customerProfileId="500123")
    untold = duplicate("A duplicate record already exists.")

    assert all(map(answers.is_duplicate_profile, (told_in_text, told_in_element, untold)))
    assert answers.duplicate_profile_id(told_in_text) == "1505813512"
    assert answers.duplicate_profile_id(told_in_element) == "500123"
    assert answers.duplicate_profile_id(untold) is None


def test_a_profile_made_is_no_duplicate() -> None:
    made = decode(
        msgspec.json.encode(
            {
                "customerProfileId": "500123",
                "customerPaymentProfileIdList": ["600456"],
                "messages": {"resultCode": "Ok", "message": [{"code": "I00001", "text": "ok"}]},
            }
        ),
        CreateCustomerProfileResponse,
    )
    assert not answers.is_duplicate_profile(made)


def test_the_existing_profile_is_read_in_xsd_order() -> None:
    assert assert_request_order(build.customer_profile(AUTH, "500123")) == {
        "merchantAuthentication": {"name": "login1234", "transactionKey": "0123456789abcdef"},
        "customerProfileId": "500123",
    }


def profile(merchant_customer_id: str, *cards: tuple[str, str]) -> GetCustomerProfileResponse:
    body = {
        "profile": {
            "merchantCustomerId": merchant_customer_id,
            "customerProfileId": "500123",
            "paymentProfiles": [
                {
                    "customerPaymentProfileId": payment_profile_id,
                    "payment": {
                        "creditCard": {
                            "cardNumber": number,
                            "expirationDate": "XXXX",
                            "cardType": "Visa",
                        }
                    },
                    "someFutureField": 1,
                }
                for payment_profile_id, number in cards
            ],
        },
        "messages": {"resultCode": "Ok", "message": [{"code": "I00001", "text": "ok"}]},
    }
    return decode(BOM + msgspec.json.encode(body), GetCustomerProfileResponse)


def test_the_payment_profile_holding_our_card_is_resolved() -> None:
    existing = profile(PM, ("600001", "XXXX0015"), ("600456", "XXXX1111"))
    assert answers.payment_profile_of(existing, merchant_customer_id=PM, last4="1111") == "600456"


@pytest.mark.parametrize(
    ("existing", "says"),
    [
        (profile("pm_someone_else", ("600456", "XXXX1111")), "not pm_"),
        (profile(PM, ("600001", "XXXX0015")), "holds another card"),
        (profile(PM), "holds another card"),
    ],
)
def test_a_profile_that_is_not_ours_or_holds_another_card_is_refused(
    existing: GetCustomerProfileResponse, says: str
) -> None:
    with pytest.raises(RequestRejectedError, match=says) as refused:
        answers.payment_profile_of(existing, merchant_customer_id=PM, last4="1111")
    assert refused.value.reason_code == "E00039"
