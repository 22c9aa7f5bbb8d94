"""The Transaction Reporting calls (ANET.md §4), read from the simulator's ledger:
getTransactionDetails, getUnsettledTransactionList, getSettledBatchList and
getTransactionList. Amounts are decimal strings in the transaction's currency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from gateway.processors.port import Outcome
from gateway.processors.simulator.identifiers import parse_transaction_id
from gateway.processors.simulator.models import SimulatorBatch, SimulatorTransaction
from gateway.processors.simulator.rules import Kind, Status, status_at
from gateway.processors.simulator.triggers import reason_text
from gateway.sandbox import answers
from gateway.sandbox.answers import CallError
from gateway.sandbox.fields import child, flag, integer, invalid, required_text, text
from gateway.sandbox.parts import Parts
from gateway.sandbox.reads import OrderBy, Page

SPAN_MAX: Final = timedelta(days=31)
PAGE_LIMIT_MAX: Final = 1000
TRANSACTION_TYPES: Final = {
    Kind.PURCHASE: "authCaptureTransaction",
    Kind.AUTHORIZATION: "authOnlyTransaction",
    Kind.REFUND: "refundTransaction",
}
_DECLINED = (Status.DECLINED,)
_HELD = (Status.FDS_PENDING_REVIEW, Status.FDS_AUTHORIZED_PENDING_REVIEW)


async def transaction_details(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    transaction_id = parse_transaction_id(required_text(body, "transId"))
    row = None if transaction_id is None else await parts.reads.transaction(transaction_id)
    if row is None:
        raise CallError(*answers.NOT_FOUND)
    now = parts.clock.now()
    status = status_at(row, now)
    response_code, reason = _response_codes(row, status)
    details: dict[str, Any] = {
        "transId": str(row.id),
        "refTransId": None if row.parent_id is None else str(row.parent_id),
        "submitTimeUTC": answers.utc(row.submitted_at),
        "submitTimeLocal": answers.local(row.submitted_at, _zone(parts)),
        "transactionType": TRANSACTION_TYPES[Kind(row.kind)],
        "transactionStatus": str(status),
        "responseCode": response_code,
        "responseReasonCode": reason,
        "responseReasonDescription": _reason_description(response_code, reason),
        "authCode": row.auth_code,
        "AVSResponse": row.avs_result or "P",
        "cardCodeResponse": row.cvv_result,
        "batch": None if row.batch_id is None else await _batch(parts, row.batch_id),
        "order": {"invoiceNumber": row.reference},
        "authAmount": answers.money(row.amount, row.currency),
        "settleAmount": answers.money(row.settle_amount, row.currency),
        "payment": {
            "creditCard": {
                "cardNumber": answers.masked(row.card_last4),
                "expirationDate": "XXXX",
                "cardType": answers.account_type(row.card_brand),
            }
        },
    }
    return answers.envelope(
        answers.OK,
        ok=True,
        ref_id=ref_id,
        transaction={key: value for key, value in details.items() if value is not None},
        transrefId=row.reference,
    )


async def unsettled_list(parts: Parts, body: dict[str, Any], ref_id: str | None) -> dict[str, Any]:
    rows, total = await parts.reads.unsettled(_page(body))
    return _transaction_list(rows, total, ref_id, _zone(parts))


async def transaction_list(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    batch_id = parse_transaction_id(required_text(body, "batchId"))
    if batch_id is None:
        raise invalid("batchId", "not a batch id")
    rows, total = await parts.reads.in_batch(batch_id, _page(body))
    return _transaction_list(rows, total, ref_id, _zone(parts))


async def settled_batch_list(
    parts: Parts, body: dict[str, Any], ref_id: str | None
) -> dict[str, Any]:
    flag(body, "includeStatistics")  # read to refuse a malformed one; no statistics kept
    first_text, last_text = text(body, "firstSettlementDate"), text(body, "lastSettlementDate")
    now = parts.clock.now()
    last = _moment(last_text, "lastSettlementDate") if last_text else now
    first = _moment(first_text, "firstSettlementDate") if first_text else last - timedelta(days=1)
    if not timedelta(0) <= last - first <= SPAN_MAX:
        raise invalid("lastSettlementDate", "the date range cannot exceed 31 days")
    batches = await parts.reads.batches(first, last)
    if not batches:
        return answers.envelope(answers.NO_RECORDS, ok=True, ref_id=ref_id)
    return answers.envelope(
        answers.OK,
        ok=True,
        ref_id=ref_id,
        batchList=[_batch_of(batch, _zone(parts)) for batch in batches],
    )


def _transaction_list(
    rows: Sequence[SimulatorTransaction], total: int, ref_id: str | None, zone: ZoneInfo
) -> dict[str, Any]:
    if not rows:
        return answers.envelope(
            answers.NO_RECORDS, ok=True, ref_id=ref_id, totalNumInResultSet=total
        )
    return answers.envelope(
        answers.OK,
        ok=True,
        ref_id=ref_id,
        transactions=[_summary(row, zone) for row in rows],
        totalNumInResultSet=total,
    )


def _zone(parts: Parts) -> ZoneInfo:
    """The account's time zone: its daily cut-off's."""
    return parts.simulator.config.settlement_cutoff[1]


def _summary(row: SimulatorTransaction, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "transId": str(row.id),
        "submitTimeUTC": answers.utc(row.submitted_at),
        "submitTimeLocal": answers.local(row.submitted_at, zone),
        "transactionStatus": row.status,
        "invoiceNumber": row.reference,
        "accountType": answers.account_type(row.card_brand),
        "accountNumber": answers.masked(row.card_last4),
        "settleAmount": answers.money(row.settle_amount or row.amount, row.currency),
    }


def _page(body: dict[str, Any]) -> Page:
    sorting, paging = child(body, "sorting"), child(body, "paging")
    order_by: OrderBy = "id"
    if sorting is not None:
        named = required_text(sorting, "orderBy")
        if named not in ("id", "submitTimeUTC"):
            raise invalid("orderBy", f"{named!r} is not id or submitTimeUTC")
        order_by = "id" if named == "id" else "submitTimeUTC"
    descending = bool(flag(sorting, "orderDescending"))
    limit = integer(paging, "limit") or PAGE_LIMIT_MAX
    number = integer(paging, "offset") or 1
    if not 1 <= limit <= PAGE_LIMIT_MAX:
        raise invalid("limit", "from 1 to 1000")
    if number < 1:
        raise invalid("offset", "a page number from 1")
    return Page(order_by=order_by, descending=descending, limit=limit, number=number)


async def _batch(parts: Parts, batch_id: int) -> dict[str, Any] | None:
    batch = await parts.reads.batch(batch_id)
    return None if batch is None else _batch_of(batch, _zone(parts))


def _batch_of(batch: SimulatorBatch, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "batchId": str(batch.id),
        "settlementTimeUTC": answers.utc(batch.settled_at),
        "settlementTimeLocal": answers.local(batch.settled_at, zone),
        "settlementState": "settledSuccessfully",
        "paymentMethod": "creditCard",
    }


def _response_codes(row: SimulatorTransaction, status: Status) -> tuple[str, str]:
    """responseCode and responseReasonCode as the original answer gave them."""
    if status in _DECLINED:
        return "2", row.reason_code or "2"
    if status in _HELD:
        return "4", row.reason_code or "252"
    return "1", "1"


def _reason_description(response_code: str, reason: str) -> str:
    if response_code == "1":
        return "Approval"
    outcome = Outcome.DECLINED if response_code == "2" else Outcome.HELD
    return reason_text(outcome, reason) or ""


def _moment(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.removesuffix("Z"))
    except ValueError:
        raise invalid(name, "not an xs:dateTime") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
