"""The reporting calls, decoded by the connector's structs and answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    CreateTransactionResponse,
    GetSettledBatchListRequest,
    GetSettledBatchListResponse,
    GetTransactionDetailsResponse,
    GetUnsettledTransactionListRequest,
    Paging,
    Sorting,
    TransactionListResponse,
)
from gateway.processors.port import CaptureRequest
from tests.fixtures.sandbox import RunningSandbox
from tests.sandbox.support import USD, charge, reference


async def _charge(
    client: AuthorizeNetClient, sandbox: RunningSandbox, amount: int, *, capture: bool = True
) -> str:
    request = build.charge(
        sandbox.auth, charge(amount=amount), capture=capture, accepted_currencies=USD
    )
    result = answers.transaction_result(await client.post(request, CreateTransactionResponse))
    assert result.processor_transaction_id is not None
    return result.processor_transaction_id


async def _details(
    client: AuthorizeNetClient, sandbox: RunningSandbox, trans_id: str
) -> GetTransactionDetailsResponse:
    return await client.post(
        build.transaction_details(sandbox.auth, trans_id), GetTransactionDetailsResponse
    )


async def test_transaction_details_show_the_refid_the_invoice_and_the_amounts(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    request = charge(amount=4321)
    made = build.charge(sandbox.auth, request, capture=False, accepted_currencies=USD)
    result = answers.transaction_result(await client.post(made, CreateTransactionResponse))
    assert result.processor_transaction_id is not None
    capture = CaptureRequest(reference(), result.processor_transaction_id, 4000, "USD")
    await client.post(
        build.capture(sandbox.auth, capture, accepted_currencies=USD), CreateTransactionResponse
    )
    answer = await _details(client, sandbox, result.processor_transaction_id)
    assert answer.ok
    assert answer.transref_id == request.reference
    details = answer.transaction
    assert details is not None
    assert details.order is not None
    assert details.order.invoice_number == request.reference
    assert details.transaction_type == "authOnlyTransaction"
    assert details.transaction_status == "capturedPendingSettlement"
    assert str(details.auth_amount) == "43.21"
    assert str(details.settle_amount) == "40.00"
    assert details.batch is None
    assert details.payment is not None
    assert details.payment.credit_card is not None
    assert details.payment.credit_card.card_number == "XXXX1111"
    transaction = answers.transaction_details(answer, "USD")
    assert transaction is not None
    assert transaction.reference == request.reference
    assert transaction.kind == "authorization"
    assert transaction.amount == 4321
    assert transaction.settled_amount == 4000  # captured, settled or not (the port's meaning)


async def test_an_unknown_transaction_is_e00040(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    answer = await _details(client, sandbox, "79999999999")
    assert answer.codes == ("E00040",)
    assert answers.transaction_details(answer, "USD") is None


async def test_settlement_shows_in_the_batch_lists_and_the_details(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    trans_id = await _charge(client, sandbox, 1234)
    async with httpx.AsyncClient(auth=sandbox.basic_auth, timeout=10) as http:
        settled = (
            await http.post(f"{sandbox.base_url}/_sandbox/settle", json={"now": True})
        ).json()
    assert trans_id in settled["settled"]
    batch_id = settled["batch_id"]
    now = datetime.now(UTC)
    batches = await client.post(
        build.settled_batches(
            sandbox.auth, first=now - timedelta(days=1), last=now + timedelta(minutes=1)
        ),
        GetSettledBatchListResponse,
    )
    assert batch_id in [batch.batch_id for batch in answers.settled_batches(batches)]
    listed = await client.post(
        build.batch_transactions(sandbox.auth, batch_id), TransactionListResponse
    )
    assert trans_id in [row.trans_id for row in listed.transactions]
    assert listed.total_num_in_result_set == len(settled["settled"])
    details = await _details(client, sandbox, trans_id)
    assert details.transaction is not None
    assert details.transaction.transaction_status == "settledSuccessfully"
    assert details.transaction.batch is not None
    assert details.transaction.batch.batch_id == batch_id
    transaction = answers.transaction_details(details, "USD")
    assert transaction is not None
    assert transaction.settled_amount == 1234
    assert transaction.settled_at is not None


async def test_a_span_over_31_days_is_refused(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    request = GetSettledBatchListRequest(
        merchant_authentication=sandbox.auth,
        first_settlement_date="2026-01-01T00:00:00Z",
        last_settlement_date="2026-03-01T00:00:00Z",
    )
    answer = await client.post(request, GetSettledBatchListResponse)
    assert not answer.ok


async def test_the_unsettled_list_pages_and_sorts(
    sandbox: RunningSandbox, client: AuthorizeNetClient
) -> None:
    made = [await _charge(client, sandbox, 100 + n) for n in range(3)]
    first = await client.post(
        build.unsettled_transactions(sandbox.auth, page=1, limit=2), TransactionListResponse
    )
    assert first.ok
    assert [row.trans_id for row in first.transactions] == [made[2], made[1]]  # newest first
    total = first.total_num_in_result_set
    assert total is not None
    assert total >= 3
    second = await client.post(
        build.unsettled_transactions(sandbox.auth, page=2, limit=2), TransactionListResponse
    )
    assert second.transactions[0].trans_id == made[0]
    oldest_first = GetUnsettledTransactionListRequest(
        merchant_authentication=sandbox.auth,
        sorting=Sorting(order_by="id", order_descending=False),
        paging=Paging(limit=1000, offset=1),
    )
    listed = await client.post(oldest_first, TransactionListResponse)
    ids = [int(row.trans_id) for row in listed.transactions]
    assert ids == sorted(ids)
    too_many = GetUnsettledTransactionListRequest(
        merchant_authentication=sandbox.auth, paging=Paging(limit=1001, offset=1)
    )
    assert not (await client.post(too_many, TransactionListResponse)).ok
