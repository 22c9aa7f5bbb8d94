"""Answers read as the port means them, where the conformance suite found the
connector and the simulator apart (issue 17, point 5)."""

from __future__ import annotations

import msgspec
import pytest

from gateway.processors.authorize_net import answers
from gateway.processors.authorize_net.messages import CreateCustomerProfileResponse
from gateway.processors.authorize_net.wire import decode
from gateway.processors.port import Outcome, RequestRejectedError
from tests.processors.authorize_net.test_answers import details_answer, transaction_answer


def test_a_refused_follow_up_names_no_transaction_though_its_reftransid_is_echoed() -> None:
    result = answers.transaction_result(
        transaction_answer("3", "16", "not found", trans_id="0", ref_trans_id="80000000001")
    )
    assert (result.outcome, result.reason_code) == (Outcome.ERROR, "16")
    assert result.processor_transaction_id is None


@pytest.mark.parametrize("status", ["authorizedPendingCapture", "voided", "FDSPendingReview"])
def test_nothing_is_captured_while_authorized_held_or_voided(status: str) -> None:
    found = answers.transaction_details(details_answer(transactionStatus=status), "USD")
    assert found is not None
    assert found.settled_amount == 0


def test_a_refused_card_carries_the_reason_of_its_direct_response() -> None:
    body = {
        "messages": {
            "resultCode": "Error",
            "message": [{"code": "E00027", "text": "The credit card number is invalid."}],
        },
        "customerPaymentProfileIdList": [],
        "validationDirectResponseList": ["3,1,6,The credit card number is invalid.,,P,0,none"],
    }
    response = decode(msgspec.json.encode(body), CreateCustomerProfileResponse)
    with pytest.raises(RequestRejectedError) as raised:
        answers.customer_profile_ids(response)
    assert raised.value.reason_code == "6"
