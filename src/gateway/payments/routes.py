"""POST /payments/{purchase,authorize,capture,refund,cancel}, GET /payments[/{id}]."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from gateway.core.errors import ValidationFailed
from gateway.core.openapi import (
    IdempotencyKeyHeader,
    api_responses,
    money_responses,
    ok,
    query_one_of,
)
from gateway.core.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    TimeQuery,
    query_time,
)
from gateway.idempotency.commands import KeyedRequest
from gateway.idempotency.http import idempotency_precheck, to_response
from gateway.merchants.auth import SCOPE_OPT
from gateway.merchants.principal import Principal
from gateway.merchants.scopes import Scope
from gateway.payments.commands import PaymentCommands
from gateway.payments.dependencies import payment_commands
from gateway.payments.repository import TransactionFilters
from gateway.payments.responses import transaction_detail, transaction_out
from gateway.payments.schemas import (
    CancelIn,
    CaptureIn,
    ChargeIn,
    RefundIn,
    TransactionDetailOut,
    TransactionList,
    TransactionOut,
)
from gateway.payments.service import TransactionService
from gateway.payments.states import ChildStatus, ParentStatus, TransactionType

WRITE = {SCOPE_OPT: Scope.PAYMENTS_WRITE}


# What a money-moving POST may answer (API.md "Errors"), for the OpenAPI document.
MONEY_RESPONSES: dict[int, ResponseSpec] = money_responses(
    {
        201: ok(TransactionOut, "Done (a replay adds Idempotent-Replayed: true)."),
        202: ok(TransactionOut, "Pending: timeout or processor review."),
    }
)
CANCEL_RESPONSES = money_responses(
    {
        200: ok(TransactionOut, "The cancelled transaction, voided."),
        202: ok(TransactionOut, "Pending: the void's outcome is not known yet."),
    }
)
READ = {SCOPE_OPT: Scope.PAYMENTS_READ}
_KEY_HEADER_DOC = "Required: `Idempotency-Key` (1-255 printable ASCII characters)."
_STATUSES = sorted({status.value for status in ParentStatus} | {s.value for s in ChildStatus})

StatusFilter = Annotated[str | None, query_one_of(_STATUSES, "The transaction's status.")]
TypeFilter = Annotated[str | None, query_one_of(TransactionType, "The transaction's type.")]
TextFilter = Annotated[str | None, QueryParameter()]


def _known(value: str | None, allowed: list[str], field: str) -> str | None:
    if value is not None and value not in allowed:
        raise ValidationFailed.for_field(field, f"one of {', '.join(allowed)}")
    return value


class PaymentController(Controller):
    path = "/api/v1/payments"
    tags = ["Payments"]  # noqa: RUF012 - Litestar reads this class attribute
    before_request = staticmethod(idempotency_precheck(payment_commands))

    @post(
        "/purchase",
        opt=WRITE,
        responses=MONEY_RESPONSES,
        summary="Authorize and capture",
        description=_KEY_HEADER_DOC,
    )
    async def purchase(
        self,
        data: JSONBody[ChargeIn],
        commands: NamedDependency[PaymentCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await commands.charge(TransactionType.PURCHASE, data, keyed)
        return to_response(outcome, relay=commands.relay)

    @post(
        "/authorize",
        opt=WRITE,
        responses=MONEY_RESPONSES,
        summary="Authorize only",
        description=_KEY_HEADER_DOC,
    )
    async def authorize(
        self,
        data: JSONBody[ChargeIn],
        commands: NamedDependency[PaymentCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await commands.charge(TransactionType.AUTHORIZATION, data, keyed)
        return to_response(outcome, relay=commands.relay)

    @post(
        "/capture",
        opt=WRITE,
        responses=MONEY_RESPONSES,
        summary="Capture an authorization",
        description=_KEY_HEADER_DOC,
    )
    async def capture(
        self,
        data: JSONBody[CaptureIn],
        commands: NamedDependency[PaymentCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await commands.capture(data, keyed)
        return to_response(outcome, relay=commands.relay)

    @post(
        "/refund",
        opt=WRITE,
        responses=MONEY_RESPONSES,
        summary="Refund a captured charge",
        description=_KEY_HEADER_DOC,
    )
    async def refund(
        self,
        data: JSONBody[RefundIn],
        commands: NamedDependency[PaymentCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await commands.refund(data, keyed)
        return to_response(outcome, relay=commands.relay)

    @post(
        "/cancel",
        opt=WRITE,
        status_code=200,
        responses=CANCEL_RESPONSES,
        summary="Void before settlement",
        description=_KEY_HEADER_DOC,
    )
    async def cancel(
        self,
        data: JSONBody[CancelIn],
        commands: NamedDependency[PaymentCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await commands.cancel(data, keyed)
        return to_response(outcome, relay=commands.relay)

    @get(
        "/{transaction_id:str}",
        opt=READ,
        summary="One transaction with its events",
        responses=api_responses(takes_id=True),
    )
    async def get_one(
        self,
        transaction_id: FromPath[str],
        principal: NamedDependency[Principal],
        transactions: NamedDependency[TransactionService],
        request: Request[Any, Any, Any],
    ) -> TransactionDetailOut:
        transaction = await transactions.get(principal.owner, transaction_id)
        events = await transactions.events(transaction)
        return transaction_detail(transaction, events, request.app.state.resources.crypto)

    @get("/", opt=READ, summary="Transactions, newest first", responses=api_responses())
    async def list_transactions(
        self,
        *,
        principal: NamedDependency[Principal],
        transactions: NamedDependency[TransactionService],
        request: Request[Any, Any, Any],
        status: StatusFilter = None,
        type: TypeFilter = None,
        order_id: TextFilter = None,
        customer_id: TextFilter = None,
        created_gte: TimeQuery = None,
        created_lt: TimeQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> TransactionList:
        filters = TransactionFilters(
            status=_known(status, _STATUSES, "status"),
            type=_known(type, [t.value for t in TransactionType], "type"),
            order_id=order_id,
            customer_id=customer_id,
            created_gte=query_time(created_gte, "created_gte"),
            created_lt=query_time(created_lt, "created_lt"),
        )
        rows, next_cursor = await transactions.list(
            principal.owner, filters, cursor=cursor, limit=limit
        )
        crypto = request.app.state.resources.crypto
        out: list[TransactionOut] = [transaction_out(row, crypto) for row in rows]
        return TransactionList(data=out, next_cursor=next_cursor)
