"""createTransactionRequest as the connector builds and reads it: the simulator's
rules and triggers (ANET.md §2, §3, §9) over HTTP."""

from __future__ import annotations

import httpx
import pytest

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    CreateTransactionRequest,
    CreateTransactionResponse,
)
from gateway.processors.port import (
    CaptureRequest,
    Outcome,
    ProcessorResult,
    RefundRequest,
    VoidRequest,
)
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import BY_AMOUNT, USD, address, charge, reference

FIRST_SANDBOX_ID = 80_000_000_001


async def _send(client: AuthorizeNetClient, request: CreateTransactionRequest) -> ProcessorResult:
    answer = await client.post(request, CreateTransactionResponse)
    return answers.transaction_result(answer)


async def _settle_now(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(auth=sandbox.basic_auth, timeout=10) as http:
        answer = await http.post(f"{sandbox.base_url}/_sandbox/settle", json={"now": True})
    assert answer.status_code == 200


async def test_a_purchase_is_approved_with_a_sandbox_id(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    request = build.charge(sandbox.auth, charge(), capture=True, accepted_currencies=USD)
    answer = await client.post(request, CreateTransactionResponse)
    assert answer.ok
    assert answer.ref_id == request.ref_id
    transaction = answer.transaction_response
    assert transaction is not None
    assert transaction.response_code == "1"
    assert transaction.trans_id is not None
    assert int(transaction.trans_id) >= FIRST_SANDBOX_ID
    assert transaction.account_number == "XXXX1111"
    assert transaction.account_type == "Visa"
    assert transaction.auth_code is not None
    assert len(transaction.auth_code) == 6
    assert transaction.avs_result_code == "Y"
    assert transaction.cvv_result_code == "M"
    result = answers.transaction_result(answer)
    assert result.outcome is Outcome.APPROVED
    assert result.reason_code is None


async def test_capture_and_void_keep_the_authorizations_id(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    auth = sandbox.auth
    authorized = await _send(
        client, build.charge(auth, charge(amount=5000), capture=False, accepted_currencies=USD)
    )
    assert authorized.outcome is Outcome.APPROVED
    auth_id = authorized.processor_transaction_id
    assert auth_id is not None
    captured = await _send(
        client,
        build.capture(
            auth, CaptureRequest(reference(), auth_id, 3000, "USD"), accepted_currencies=USD
        ),
    )
    assert captured.outcome is Outcome.APPROVED
    assert captured.processor_transaction_id == auth_id
    again = await _send(
        client,
        build.capture(
            auth, CaptureRequest(reference(), auth_id, None, "USD"), accepted_currencies=USD
        ),
    )
    assert again.already_done
    assert again.reason_code == "311"
    voided = await _send(client, build.void(auth, VoidRequest(reference(), auth_id)))
    assert voided.outcome is Outcome.APPROVED
    assert voided.processor_transaction_id == auth_id
    assert not voided.already_done
    twice = await _send(client, build.void(auth, VoidRequest(reference(), auth_id)))
    assert twice.already_done
    assert twice.reason_code == "310"


async def test_a_capture_above_the_authorization_is_refused(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    auth = sandbox.auth
    authorized = await _send(
        client, build.charge(auth, charge(amount=1000), capture=False, accepted_currencies=USD)
    )
    assert authorized.processor_transaction_id is not None
    over = CaptureRequest(reference(), authorized.processor_transaction_id, 1001, "USD")
    refused = await _send(client, build.capture(auth, over, accepted_currencies=USD))
    assert refused.outcome is Outcome.ERROR
    assert refused.reason_code == "47"


async def test_refunds_need_settlement_and_never_exceed_the_charge(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    auth = sandbox.auth
    purchased = await _send(
        client, build.charge(auth, charge(amount=2000), capture=True, accepted_currencies=USD)
    )
    charge_id = purchased.processor_transaction_id
    assert charge_id is not None

    def refund(amount: int) -> CreateTransactionRequest:
        request = RefundRequest(reference(), charge_id, amount, "USD", card_last4="1111")
        return build.refund(auth, request, accepted_currencies=USD)

    unsettled = await _send(client, refund(500))
    assert unsettled.outcome is Outcome.ERROR
    assert unsettled.reason_code == "54"
    await _settle_now(sandbox)
    refunded = await _send(client, refund(1500))
    assert refunded.outcome is Outcome.APPROVED
    assert refunded.processor_transaction_id not in (None, charge_id)
    assert int(refunded.processor_transaction_id or 0) >= FIRST_SANDBOX_ID
    over = await _send(client, refund(501))
    assert over.outcome is Outcome.ERROR
    assert over.reason_code == "55"


@pytest.mark.parametrize(
    ("request_changes", "reason"),
    [
        ({"billing_address": address("46282")}, "2"),
        ({"card": BY_AMOUNT, "amount": 200}, "2"),
        ({"card": BY_AMOUNT, "amount": 2700}, "27"),
    ],
    ids=["zip-46282", "4222222222222-2.00", "4222222222222-27.00"],
)
async def test_decline_triggers(
    sandbox: RunningSandbox,
    client: AuthorizeNetClient,
    request_changes: dict[str, object],
    reason: str,
) -> None:
    request = build.charge(
        sandbox.auth, charge(**request_changes), capture=True, accepted_currencies=USD
    )
    answer = await client.post(request, CreateTransactionResponse)
    assert not answer.ok
    assert answer.codes == ("E00027",)
    assert answer.transaction_response is not None
    assert answer.transaction_response.response_code == "2"
    result = answers.transaction_result(answer)
    assert result.outcome is Outcome.DECLINED
    assert result.reason_code == reason


async def test_a_processing_error_and_a_hold_for_review(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    auth = sandbox.auth
    failed = await _send(
        client,
        build.charge(
            auth, charge(card=BY_AMOUNT, amount=1900), capture=True, accepted_currencies=USD
        ),
    )
    assert failed.outcome is Outcome.ERROR
    assert failed.reason_code == "19"
    held = await _send(
        client,
        build.charge(
            auth, charge(card=BY_AMOUNT, amount=25200), capture=True, accepted_currencies=USD
        ),
    )
    assert held.outcome is Outcome.HELD
    assert held.reason_code == "252"
    assert held.processor_transaction_id is not None


async def test_the_duplicate_window_is_reason_11(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    request = build.charge(sandbox.auth, charge(), capture=True, accepted_currencies=USD)
    assert (await _send(client, request)).outcome is Outcome.APPROVED
    repeated = await _send(client, request)
    assert repeated.outcome is Outcome.ERROR
    assert repeated.reason_code == "11"
    assert repeated.processor_transaction_id is None
