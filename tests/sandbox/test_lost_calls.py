"""The simulator's lost calls over a real socket: the client gets no answer at all
(the connection drops), whether or not the sandbox recorded the charge."""

from __future__ import annotations

import httpx
import pytest

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    CreateTransactionResponse,
    GetTransactionDetailsResponse,
    TransactionListResponse,
)
from gateway.processors.port import OutcomeUnknownError
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import BY_AMOUNT, USD, charge


async def _unsettled_with(
    client: AuthorizeNetClient, sandbox: RunningSandbox, reference: str
) -> list[str]:
    found: list[str] = []
    page = 1
    while True:
        request = build.unsettled_transactions(sandbox.auth, page=page, limit=100)
        answer = await client.post(request, TransactionListResponse)
        found += [row.trans_id for row in answers.with_reference(answer, reference)]
        if not answers.has_more_pages(answer, page=page, limit=100):
            return found
        page += 1


async def test_901_records_the_charge_and_gives_no_answer(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    lost = charge(card=BY_AMOUNT, amount=90100)
    request = build.charge(sandbox.auth, lost, capture=True, accepted_currencies=USD)
    with pytest.raises(OutcomeUnknownError):
        await client.post(request, CreateTransactionResponse)
    (found,) = await _unsettled_with(client, sandbox, lost.reference)
    details = await client.post(
        build.transaction_details(sandbox.auth, found), GetTransactionDetailsResponse
    )
    transaction = answers.transaction_details(details, "USD")
    assert transaction is not None
    assert transaction.reference == lost.reference
    assert transaction.status == "capturedPendingSettlement"
    assert transaction.amount == 90100


async def test_902_gives_no_answer_and_records_nothing(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    lost = charge(card=BY_AMOUNT, amount=90200)
    request = build.charge(sandbox.auth, lost, capture=True, accepted_currencies=USD)
    with pytest.raises(OutcomeUnknownError):
        await client.post(request, CreateTransactionResponse)
    assert await _unsettled_with(client, sandbox, lost.reference) == []


async def test_an_outage_drops_every_call_until_it_ends(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    outage = f"{sandbox.base_url}/_sandbox/outage"
    async with httpx.AsyncClient(auth=sandbox.basic_auth, timeout=10) as http:
        assert (await http.post(outage, json={"on": True})).status_code == 200
        try:
            request = build.charge(sandbox.auth, charge(), capture=True, accepted_currencies=USD)
            with pytest.raises(OutcomeUnknownError):
                await client.post(request, CreateTransactionResponse)
        finally:
            assert (await http.post(outage, json={"on": False})).status_code == 200
    request = build.charge(sandbox.auth, charge(), capture=True, accepted_currencies=USD)
    assert (await client.post(request, CreateTransactionResponse)).ok


async def test_the_control_surface_needs_the_sandboxs_credentials(sandbox: RunningSandbox) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        credentials: list[tuple[str, str] | None] = [
            None,
            ("someone", "else"),
            (sandbox.config.login_id, "wrong"),
        ]
        for auth in credentials:
            for action in ("settle", "review", "outage"):
                answer = await http.post(
                    f"{sandbox.base_url}/_sandbox/{action}",
                    json={"on": True},
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                )
                assert answer.status_code == 401
