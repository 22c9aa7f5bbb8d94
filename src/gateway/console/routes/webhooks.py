"""Webhooks in (the processor's events, with replay) and out (merchants'
endpoints and deliveries, with retry and recover)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.composition.resources import Resources
from gateway.console.actions import ConsoleActions
from gateway.console.auth import ADMIN, provide_operator
from gateway.console.pages import Query, flash_and_go, mode_of, page
from gateway.console.queries import ConsoleQueries
from gateway.core.errors import GatewayError, ValidationFailed
from gateway.core.settings import Settings

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _actions(request: Request[Any, Any, Any], session: AsyncSession) -> ConsoleActions:
    resources: Resources = request.app.state.resources
    settings: Settings = request.app.state.settings
    return ConsoleActions(session, resources, settings)


class WebhookPages(Controller):
    path = "/console/webhooks"

    @get("/inbound", include_in_schema=False)
    async def inbound(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        status: Query = None,
    ) -> Template:
        events = await ConsoleQueries(db_session).inbound_events(status or None)
        return page(request, "inbound.html", events=events, status=status or "")

    @post("/inbound/{event_id:str}/replay", opt=ADMIN, include_in_schema=False, status_code=303)
    async def replay(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        event_id: FromPath[str],
    ) -> Redirect:
        back = "/console/webhooks/inbound"
        try:
            await _actions(request, db_session).replay_inbound(provide_operator(request), event_id)
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        return flash_and_go(request, f"Replayed {event_id}: queued for processing again.", back)

    @get("/outbound", include_in_schema=False)
    async def outbound(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        mode: Query = None,
        status: Query = None,
    ) -> Template:
        shown = mode_of(mode)
        queries = ConsoleQueries(db_session)
        return page(
            request,
            "outbound.html",
            mode=shown,
            status=status or "",
            endpoints=await queries.endpoints(shown == "live"),
            deliveries=await queries.deliveries(shown == "live", status or None),
        )

    @post(
        "/deliveries/{delivery_id:str}/retry", opt=ADMIN, include_in_schema=False, status_code=303
    )
    async def retry(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        delivery_id: FromPath[str],
    ) -> Redirect:
        back = str(request.headers.get("referer") or "/console/webhooks/outbound")
        back = back if "/console/" in back else "/console/webhooks/outbound"
        try:
            await _actions(request, db_session).retry_delivery(
                provide_operator(request), delivery_id
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        return flash_and_go(request, f"Retrying {delivery_id} now.", back)

    @post(
        "/endpoints/{endpoint_id:str}/recover", opt=ADMIN, include_in_schema=False, status_code=303
    )
    async def recover(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        endpoint_id: FromPath[str],
        data: Form,
    ) -> Redirect:
        back = "/console/webhooks/outbound"
        resources: Resources = request.app.state.resources
        try:
            hours = data.get("hours", "24").strip()
            if not hours.isdigit() or not 1 <= int(hours) <= 24 * 30:
                raise ValidationFailed.for_field("hours", "a whole number of hours, 1 to 720")
            since = resources.clock.now() - timedelta(hours=int(hours))
            count = await _actions(request, db_session).recover_endpoint(
                provide_operator(request), endpoint_id, since
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        return flash_and_go(request, f"Recovered {count} deliveries of {endpoint_id}.", back)
