"""The reporting calls the connector pages through: finding a transaction by our
reference (after a timeout) and listing what settled.

Authorize.Net's lists show the invoice number, not the refId, and page by
number. Every walk here is bounded: a lookup that runs out of pages answers
"not found yet", which reconciliation treats as "ask again later" until its own
deadline, never as "it did not happen" on the spot.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from gateway.processors.authorize_net import answers, build
from gateway.processors.authorize_net.client import AuthorizeNetClient
from gateway.processors.authorize_net.messages import (
    Batch,
    GetSettledBatchListResponse,
    MerchantAuthentication,
    TransactionListResponse,
    TransactionSummary,
)
from gateway.processors.authorize_net.wire import amount_from_wire
from gateway.processors.port import SettledTransaction

PAGE_LIMIT: Final = 1000  # the most Authorize.Net gives in one page
# A settled batch holds what settled: money moved. Voids, declines and
# transactions that failed to settle may be listed in a batch but moved nothing.
SETTLED_STATUSES: Final = frozenset(
    {
        "settledSuccessfully",
        "refundSettledSuccessfully",
        "chargeback",
        "chargebackReversal",
        "returnedItem",
    }
)
# Of those, the ones that paid a customer back.
REFUND_STATUSES: Final = frozenset({"refundSettledSuccessfully"})


async def find_unsettled(
    client: AuthorizeNetClient,
    auth: MerchantAuthentication,
    reference: str,
    *,
    max_pages: int,
    page_limit: int = PAGE_LIMIT,
) -> TransactionSummary | None:
    """The newest unsettled transaction made with this reference (the invoice
    number our charges and refunds carry), reading at most `max_pages` pages,
    newest first: a call that timed out is recent."""
    for page in range(1, max_pages + 1):
        answer = await client.post(
            build.unsettled_transactions(auth, page=page, limit=page_limit),
            TransactionListResponse,
        )
        if found := answers.with_reference(answer, reference):
            return found[0]
        if not answers.has_more_pages(answer, page=page, limit=page_limit):
            return None
    return None


async def settled_batches(
    client: AuthorizeNetClient,
    auth: MerchantAuthentication,
    *,
    first: datetime,
    last: datetime,
) -> list[Batch]:
    answer = await client.post(
        build.settled_batches(auth, first=first, last=last), GetSettledBatchListResponse
    )
    return answers.settled_batches(answer)


async def batch_rows(
    client: AuthorizeNetClient,
    auth: MerchantAuthentication,
    batch_id: str,
    *,
    max_pages: int | None = None,
    page_limit: int = PAGE_LIMIT,
) -> list[TransactionSummary]:
    """Every transaction of one settled batch, page after page (at most
    `max_pages` when given)."""
    rows: list[TransactionSummary] = []
    page = 1
    while True:
        answer = await client.post(
            build.batch_transactions(auth, batch_id, page=page, limit=page_limit),
            TransactionListResponse,
        )
        more = answers.has_more_pages(answer, page=page, limit=page_limit)  # refuses errors
        rows += answer.transactions
        if not more or (max_pages is not None and page >= max_pages):
            return rows
        page += 1


def settled(
    batch: Batch, rows: Iterable[TransactionSummary], currency: str
) -> list[SettledTransaction]:
    """The rows of a batch that settled money, stamped with the batch's time;
    amounts are read in `currency`, the account's (the lists name none)."""
    if not batch.settlement_time_utc:
        return []
    settled_at = answers.parse_utc(batch.settlement_time_utc)
    return [
        SettledTransaction(
            processor_transaction_id=row.trans_id,
            batch_id=batch.batch_id,
            settled_at=settled_at,
            kind="refund" if row.transaction_status in REFUND_STATUSES else "charge",
            amount=amount_from_wire(row.settle_amount, currency),
            currency=currency,
        )
        for row in rows
        if row.transaction_status in SETTLED_STATUSES
    ]
