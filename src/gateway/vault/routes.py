"""POST/GET/DELETE /payment-methods (API.md "Payment methods")."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from gateway.core.openapi import IdempotencyKeyHeader, api_responses, money_responses, ok
from gateway.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from gateway.idempotency.commands import KeyedRequest
from gateway.idempotency.http import idempotency_precheck, to_response
from gateway.merchants.auth import SCOPE_OPT, api_actor
from gateway.merchants.principal import Principal
from gateway.merchants.scopes import Scope
from gateway.vault.commands import VaultCommands
from gateway.vault.dependencies import vault_commands
from gateway.vault.responses import payment_method_out
from gateway.vault.schemas import NewPaymentMethod, PaymentMethodList, PaymentMethodOut
from gateway.vault.service import PaymentMethodService

# API.md: payment methods use the payments scopes.
WRITE = {SCOPE_OPT: Scope.PAYMENTS_WRITE}
READ = {SCOPE_OPT: Scope.PAYMENTS_READ}


class PaymentMethodController(Controller):
    path = "/api/v1/payment-methods"
    tags = ["Payment methods"]  # noqa: RUF012 - Litestar reads this class attribute
    before_request = staticmethod(idempotency_precheck(vault_commands))

    @post(
        "/",
        opt=WRITE,
        summary="Store a card as a token",
        description="Required: `Idempotency-Key`. The card is tokenized at the processor.",
        responses=money_responses(
            {201: ok(PaymentMethodOut, "Stored (a replay adds Idempotent-Replayed: true).")}
        ),
    )
    async def create(
        self,
        data: JSONBody[NewPaymentMethod],
        vault: NamedDependency[VaultCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await vault.create(data, keyed)
        return to_response(outcome, relay=vault.relay)

    @get(
        "/{method_id:str}",
        opt=READ,
        summary="One payment method",
        responses=api_responses(takes_id=True),
    )
    async def get_one(
        self,
        method_id: FromPath[str],
        principal: NamedDependency[Principal],
        payment_methods: NamedDependency[PaymentMethodService],
    ) -> PaymentMethodOut:
        method = await payment_methods.get(principal.owner, method_id)
        return payment_method_out(method, payment_methods)

    @get("/", opt=READ, summary="Payment methods, newest first", responses=api_responses())
    async def list_methods(
        self,
        *,
        principal: NamedDependency[Principal],
        payment_methods: NamedDependency[PaymentMethodService],
        customer_id: Annotated[str | None, QueryParameter()] = None,
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> PaymentMethodList:
        rows, next_cursor = await payment_methods.list(
            principal.owner, customer_id=customer_id, cursor=cursor, limit=limit
        )
        return PaymentMethodList(
            data=[payment_method_out(row, payment_methods) for row in rows],
            next_cursor=next_cursor,
        )

    @delete(
        "/{method_id:str}",
        opt=WRITE,
        summary="Delete here and at the processor",
        responses=api_responses(takes_id=True),
    )
    async def remove(
        self,
        method_id: FromPath[str],
        principal: NamedDependency[Principal],
        payment_methods: NamedDependency[PaymentMethodService],
        request: Request[Any, Any, Any],
    ) -> None:
        processor = request.app.state.resources.processors.for_key(principal.livemode)
        await payment_methods.delete(principal.owner, method_id, processor, api_actor(request))
