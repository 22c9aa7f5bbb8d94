"""CIM over the wire: a customer profile made, charged, refused twice, deleted."""

from __future__ import annotations

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    CreateCustomerProfileResponse,
    CreateTransactionResponse,
    DeleteCustomerProfileResponse,
)
from gateway.processors.port import Outcome, TokenizeRequest
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import BY_AMOUNT, USD, VISA, address, charge, reference


def _tokenize(sandbox: RunningSandbox, **changes: object) -> TokenizeRequest:
    fields: dict[str, object] = {
        "reference": f"pm_{reference()[4:]}",
        "card": VISA,
        "billing_address": address(),
    }
    fields.update(changes)
    return TokenizeRequest(**fields)  # type: ignore[arg-type]


async def test_a_profile_is_created_charged_and_deleted(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    tokenize = _tokenize(sandbox)
    created = await client.post(
        build.create_customer_profile(sandbox.auth, tokenize), CreateCustomerProfileResponse
    )
    assert created.ok
    customer_id, payment_id = answers.customer_profile_ids(created)
    token = build.profile_token(customer_id, payment_id)

    paid = answers.transaction_result(
        await client.post(
            build.charge(
                sandbox.auth,
                charge(card=None, token=token, cvv="900"),
                capture=True,
                accepted_currencies=USD,
            ),
            CreateTransactionResponse,
        )
    )
    assert paid.outcome is Outcome.APPROVED
    assert paid.cvv_result == "M"

    duplicate = await client.post(
        build.create_customer_profile(sandbox.auth, tokenize), CreateCustomerProfileResponse
    )
    assert duplicate.codes == ("E00039",)
    assert customer_id in duplicate.messages.message[0].text

    deleted = await client.post(
        build.delete_customer_profile(sandbox.auth, token), DeleteCustomerProfileResponse
    )
    assert deleted.ok
    again = await client.post(
        build.delete_customer_profile(sandbox.auth, token), DeleteCustomerProfileResponse
    )
    assert again.codes == ("E00040",)
    answers.profile_deleted(again)  # as deleted as the connector wants it

    gone = await client.post(
        build.charge(
            sandbox.auth, charge(card=None, token=token), capture=True, accepted_currencies=USD
        ),
        CreateTransactionResponse,
    )
    assert gone.codes == ("E00040",)
    assert answers.transaction_result(gone).outcome is Outcome.ERROR


async def test_a_profile_keeps_the_trigger_class_of_its_card(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    created = await client.post(
        build.create_customer_profile(sandbox.auth, _tokenize(sandbox, card=BY_AMOUNT)),
        CreateCustomerProfileResponse,
    )
    token = build.profile_token(*answers.customer_profile_ids(created))
    renewal = answers.transaction_result(
        await client.post(
            build.charge(
                sandbox.auth,
                charge(card=None, token=token, amount=200),
                capture=True,
                accepted_currencies=USD,
            ),
            CreateTransactionResponse,
        )
    )
    assert renewal.outcome is Outcome.DECLINED
    assert renewal.reason_code == "2"


async def test_an_unknown_profile_cannot_be_deleted(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    answer = await client.post(
        build.delete_customer_profile(sandbox.auth, "1/2"), DeleteCustomerProfileResponse
    )
    assert answer.codes == ("E00040",)
