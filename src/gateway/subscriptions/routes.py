"""POST/GET/PUT/DELETE /subscriptions and GET /subscriptions/{id}/invoices."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from gateway.core.errors import ValidationFailed
from gateway.core.openapi import (
    IdempotencyKeyHeader,
    api_responses,
    money_responses,
    ok,
    problem,
    query_one_of,
)
from gateway.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from gateway.idempotency.commands import KeyedRequest
from gateway.idempotency.http import idempotency_precheck, to_response
from gateway.merchants.auth import SCOPE_OPT, api_actor
from gateway.merchants.principal import Principal
from gateway.merchants.scopes import Scope
from gateway.subscriptions.commands import SubscriptionCommands
from gateway.subscriptions.dependencies import subscription_commands
from gateway.subscriptions.lifecycle import SubscriptionChanges
from gateway.subscriptions.repository import SubscriptionFilters
from gateway.subscriptions.responses import invoices_out, subscription_out
from gateway.subscriptions.schemas import (
    InvoiceList,
    NewSubscription,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionUpdate,
)
from gateway.subscriptions.service import SubscriptionService
from gateway.subscriptions.states import SubscriptionStatus

WRITE = {SCOPE_OPT: Scope.SUBSCRIPTIONS_WRITE}
READ = {SCOPE_OPT: Scope.SUBSCRIPTIONS_READ}
_STATUSES = [status.value for status in SubscriptionStatus]

CREATE_RESPONSES: dict[int, ResponseSpec] = money_responses(
    {
        201: ok(
            SubscriptionOut,
            "Created: active (first period paid), trialing, or active from start_date.",
        ),
        202: ok(
            SubscriptionOut,
            "Incomplete: the first charge's outcome is unknown; reconciliation decides.",
        ),
    }
)
_INVALID_STATE = {409: problem("invalid_state: not possible in its status.", "invalid_state")}

StatusFilter = Annotated[str | None, query_one_of(SubscriptionStatus, "The subscription's status.")]


class SubscriptionController(Controller):
    path = "/api/v1/subscriptions"
    tags = ["Subscriptions"]  # noqa: RUF012 - Litestar reads this class attribute
    before_request = staticmethod(idempotency_precheck(subscription_commands))

    @post(
        "/",
        opt=WRITE,
        responses=CREATE_RESPONSES,
        summary="Start a subscription",
        description="Required: `Idempotency-Key`. Starting now, the first period is charged"
        " during the request.",
    )
    async def create(
        self,
        data: JSONBody[NewSubscription],
        subscription_commands: NamedDependency[SubscriptionCommands],
        keyed: NamedDependency[KeyedRequest],
        idempotency_key: IdempotencyKeyHeader,
    ) -> Response[bytes]:
        outcome = await subscription_commands.create(data, keyed)
        return to_response(outcome, relay=subscription_commands.relay)

    @get(
        "/{subscription_id:str}",
        opt=READ,
        summary="One subscription",
        responses=api_responses(takes_id=True),
    )
    async def get_one(
        self,
        subscription_id: FromPath[str],
        principal: NamedDependency[Principal],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> SubscriptionOut:
        found = await subscriptions.get(principal.owner, subscription_id)
        return subscription_out(found, subscriptions)

    @get("/", opt=READ, summary="Subscriptions, newest first", responses=api_responses())
    async def list_subscriptions(
        self,
        *,
        principal: NamedDependency[Principal],
        subscriptions: NamedDependency[SubscriptionService],
        status: StatusFilter = None,
        customer_id: Annotated[str | None, QueryParameter()] = None,
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> SubscriptionList:
        if status is not None and status not in _STATUSES:
            raise ValidationFailed.for_field("status", f"one of {', '.join(_STATUSES)}")
        rows, next_cursor = await subscriptions.list(
            principal.owner,
            SubscriptionFilters(status=status, customer_id=customer_id),
            cursor=cursor,
            limit=limit,
        )
        return SubscriptionList(
            data=[subscription_out(row, subscriptions) for row in rows], next_cursor=next_cursor
        )

    @put(
        "/{subscription_id:str}",
        opt=WRITE,
        summary="Change price, plan, card, metadata; pause or resume",
        description="`amount` and `plan_id` apply from the next period; the rest at once.",
        responses=api_responses(takes_id=True, body=True, also=_INVALID_STATE),
    )
    async def update(
        self,
        subscription_id: FromPath[str],
        data: JSONBody[SubscriptionUpdate],
        principal: NamedDependency[Principal],
        subscription_changes: NamedDependency[SubscriptionChanges],
        request: Request[Any, Any, Any],
    ) -> SubscriptionOut:
        changed = await subscription_changes.update(
            principal.owner, subscription_id, data, api_actor(request)
        )
        return subscription_out(changed, subscription_changes.service)

    @delete(
        "/{subscription_id:str}",
        opt=WRITE,
        status_code=200,
        summary="Cancel now, or at the end of the period",
        responses=api_responses(takes_id=True, also=_INVALID_STATE),
    )
    async def cancel(
        self,
        subscription_id: FromPath[str],
        principal: NamedDependency[Principal],
        subscription_changes: NamedDependency[SubscriptionChanges],
        request: Request[Any, Any, Any],
        at_period_end: Annotated[bool, QueryParameter()] = False,
    ) -> SubscriptionOut:
        canceled = await subscription_changes.cancel(
            principal.owner, subscription_id, at_period_end=at_period_end, actor=api_actor(request)
        )
        return subscription_out(canceled, subscription_changes.service)

    @get(
        "/{subscription_id:str}/invoices",
        opt=READ,
        summary="Its invoices with their attempts",
        responses=api_responses(takes_id=True),
    )
    async def invoices(
        self,
        subscription_id: FromPath[str],
        principal: NamedDependency[Principal],
        subscriptions: NamedDependency[SubscriptionService],
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> InvoiceList:
        invoices, attempts, next_cursor = await subscriptions.invoices(
            principal.owner, subscription_id, cursor=cursor, limit=limit
        )
        return InvoiceList(data=invoices_out(invoices, attempts), next_cursor=next_cursor)
