"""Merchants and their API keys: create, revoke; a new key is shown once."""

from __future__ import annotations

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
from gateway.console.pages import flash_and_go, page
from gateway.console.queries import ConsoleQueries
from gateway.core.errors import GatewayError, NotFound
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _actions(request: Request[Any, Any, Any], session: AsyncSession) -> ConsoleActions:
    resources: Resources = request.app.state.resources
    settings: Settings = request.app.state.settings
    return ConsoleActions(session, resources, settings)


class MerchantPages(Controller):
    path = "/console/merchants"

    @get("/", include_in_schema=False)
    async def merchants(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return page(
            request, "merchants.html", merchants=await ConsoleQueries(db_session).merchants()
        )

    @post("/", opt=ADMIN, include_in_schema=False, status_code=303)
    async def create(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: Form
    ) -> Redirect:
        try:
            merchant_id = await _actions(request, db_session).create_merchant(
                provide_operator(request), data.get("name", "")
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, "/console/merchants", ok=False)
        return flash_and_go(request, f"Created {merchant_id}.", f"/console/merchants/{merchant_id}")

    @get("/{merchant_id:str}", include_in_schema=False)
    async def merchant(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        merchant_id: FromPath[str],
    ) -> Template:
        queries = ConsoleQueries(db_session)
        merchant = await queries.merchant(merchant_id)
        if merchant is None:
            raise NotFound(f"No merchant {merchant_id}.")
        return page(
            request,
            "merchant.html",
            merchant=merchant,
            keys=await queries.keys(merchant_id),
            scopes=[scope.value for scope in Scope],
            new_key=None,
        )

    @post("/{merchant_id:str}/keys", opt=ADMIN, include_in_schema=False)
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        merchant_id: FromPath[str],
        data: Form,
    ) -> Template | Redirect:
        back = f"/console/merchants/{merchant_id}"
        try:
            issued = await _actions(request, db_session).create_key(
                provide_operator(request),
                merchant_id,
                data.get("scopes", ""),
                livemode=data.get("mode") == "live",
            )
        except GatewayError as error:
            return flash_and_go(request, error.detail, back, ok=False)
        queries = ConsoleQueries(db_session)
        # Shown on this answer only (never stored, never in a redirect's URL): the
        # page says so, and Cache-Control keeps it out of the browser's cache.
        return page(
            request,
            "merchant.html",
            merchant=await queries.merchant(merchant_id),
            keys=await queries.keys(merchant_id),
            scopes=[scope.value for scope in Scope],
            new_key=issued,
        )

    @post("/keys/{key_id:str}/revoke", opt=ADMIN, include_in_schema=False, status_code=303)
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        key_id: FromPath[str],
    ) -> Redirect:
        try:
            key = await _actions(request, db_session).revoke_key(provide_operator(request), key_id)
        except GatewayError as error:
            return flash_and_go(request, error.detail, "/console/merchants", ok=False)
        return flash_and_go(request, f"Revoked {key.id}.", f"/console/merchants/{key.merchant_id}")
