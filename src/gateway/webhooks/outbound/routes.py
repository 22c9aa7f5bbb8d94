"""/webhook-endpoints and /webhook-deliveries (API.md "Webhooks / Outbound"):
scope `webhooks:admin`, one merchant in one mode, no Idempotency-Key."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from gateway.core.openapi import api_responses, problem, query_one_of
from gateway.core.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    LimitQuery,
    TimeQuery,
    query_time,
)
from gateway.merchants.auth import SCOPE_OPT, api_actor
from gateway.merchants.principal import Principal
from gateway.merchants.scopes import Scope
from gateway.webhooks.outbound.endpoints import EndpointService
from gateway.webhooks.outbound.models import DELIVERY_STATUSES
from gateway.webhooks.outbound.repository import DeliveryFilters
from gateway.webhooks.outbound.schemas import (
    DeliveryList,
    DeliveryOut,
    EndpointChange,
    EndpointList,
    EndpointOut,
    EndpointWithSecret,
    NewEndpoint,
    RecoveredOut,
    RecoverWindow,
)

ADMIN = {SCOPE_OPT: Scope.WEBHOOKS_ADMIN}

StatusQuery = Annotated[str | None, query_one_of(DELIVERY_STATUSES, "The delivery's status.")]
EventTypeQuery = Annotated[str | None, QueryParameter(description="One event type.")]


_IN_FLIGHT = {
    409: problem("invalid_state: an attempt of this delivery is in flight.", "invalid_state")
}


class WebhookEndpointController(Controller):
    path = "/api/v1/webhook-endpoints"
    tags = ["Webhook endpoints"]  # noqa: RUF012 - Litestar reads this class attribute

    @post(
        "/",
        opt=ADMIN,
        status_code=201,
        summary="Create an endpoint",
        description="The answer carries the signing `secret`: it is shown only here and on "
        "rotation. In production the URL must be https:// and resolve to public addresses.",
        responses=api_responses(body=True),
    )
    async def create(
        self,
        data: JSONBody[NewEndpoint],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        request: Request[Any, Any, Any],
    ) -> EndpointWithSecret:
        endpoint, secret = await webhook_endpoints.create(principal.owner, data, api_actor(request))
        return EndpointWithSecret.revealing(endpoint, secret)

    @get("/", opt=ADMIN, summary="Endpoints, newest first", responses=api_responses())
    async def list_endpoints(
        self,
        *,
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> EndpointList:
        rows, next_cursor = await webhook_endpoints.page(
            principal.owner, cursor=cursor, limit=limit
        )
        return EndpointList(data=[EndpointOut.of(row) for row in rows], next_cursor=next_cursor)

    @get(
        "/{endpoint_id:str}",
        opt=ADMIN,
        summary="One endpoint",
        responses=api_responses(takes_id=True),
    )
    async def get_one(
        self,
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
    ) -> EndpointOut:
        return EndpointOut.of(await webhook_endpoints.get(principal.owner, endpoint_id))

    @patch(
        "/{endpoint_id:str}",
        opt=ADMIN,
        summary="Change an endpoint",
        description="Only the fields given change. `disabled: false` enables it again.",
        responses=api_responses(takes_id=True, body=True),
    )
    async def update(
        self,
        endpoint_id: FromPath[str],
        data: JSONBody[EndpointChange],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        request: Request[Any, Any, Any],
    ) -> EndpointOut:
        endpoint = await webhook_endpoints.update(
            principal.owner, endpoint_id, data, api_actor(request)
        )
        return EndpointOut.of(endpoint)

    @delete(
        "/{endpoint_id:str}",
        opt=ADMIN,
        summary="Delete an endpoint and its deliveries",
        responses=api_responses(takes_id=True),
    )
    async def remove(
        self,
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        request: Request[Any, Any, Any],
    ) -> None:
        await webhook_endpoints.delete(principal.owner, endpoint_id, api_actor(request))

    @post(
        "/{endpoint_id:str}/rotate-secret",
        opt=ADMIN,
        status_code=200,
        summary="Rotate the signing secret",
        description="The new `secret` is shown once; the old one keeps signing beside it "
        "for 24 hours.",
        responses=api_responses(takes_id=True),
    )
    async def rotate_secret(
        self,
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        request: Request[Any, Any, Any],
    ) -> EndpointWithSecret:
        endpoint, secret = await webhook_endpoints.rotate_secret(
            principal.owner, endpoint_id, api_actor(request)
        )
        return EndpointWithSecret.revealing(endpoint, secret)

    @get(
        "/{endpoint_id:str}/deliveries",
        opt=ADMIN,
        summary="The endpoint's deliveries, newest first",
        responses=api_responses(takes_id=True),
    )
    async def deliveries(
        self,
        *,
        endpoint_id: FromPath[str],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        status: StatusQuery = None,
        event_type: EventTypeQuery = None,
        created_gte: TimeQuery = None,
        created_lt: TimeQuery = None,
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> DeliveryList:
        filters = DeliveryFilters(
            endpoint_id=endpoint_id,
            status=status,
            event_type=event_type,
            created_gte=query_time(created_gte, "created_gte"),
            created_lt=query_time(created_lt, "created_lt"),
        )
        rows, next_cursor = await webhook_endpoints.deliveries_page(
            principal.owner, filters, cursor=cursor, limit=limit
        )
        return DeliveryList(data=[DeliveryOut.of(row) for row in rows], next_cursor=next_cursor)

    @post(
        "/{endpoint_id:str}/recover",
        opt=ADMIN,
        status_code=202,
        summary="Re-send every failed or dead delivery of a window",
        description="Deliveries created in [since, until) (until: now) are due again at once.",
        responses=api_responses(takes_id=True, body=True),
    )
    async def recover(
        self,
        endpoint_id: FromPath[str],
        data: JSONBody[RecoverWindow],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        request: Request[Any, Any, Any],
    ) -> Response[RecoveredOut]:
        recovered = await webhook_endpoints.recover(
            principal.owner, endpoint_id, api_actor(request), since=data.since, until=data.until
        )
        return Response(RecoveredOut(recovered=len(recovered)), status_code=202)


class WebhookDeliveryController(Controller):
    path = "/api/v1/webhook-deliveries"
    tags = ["Webhook endpoints"]  # noqa: RUF012 - Litestar reads this class attribute

    @post(
        "/{delivery_id:str}/retry",
        opt=ADMIN,
        status_code=202,
        summary="Send one delivery again",
        description="Due at once, its attempts so far kept; 409 while an attempt is in flight.",
        responses=api_responses(takes_id=True, also=_IN_FLIGHT),
    )
    async def retry(
        self,
        delivery_id: FromPath[str],
        principal: NamedDependency[Principal],
        webhook_endpoints: NamedDependency[EndpointService],
        request: Request[Any, Any, Any],
    ) -> Response[DeliveryOut]:
        delivery = await webhook_endpoints.retry_delivery(
            principal.owner, delivery_id, api_actor(request)
        )
        return Response(DeliveryOut.of(delivery), status_code=202)
