"""GET /merchants/me, GET /keys, GET /keys/{id}."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from gateway.core.openapi import api_responses
from gateway.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page
from gateway.merchants.auth import ANY_KEY, SCOPE_OPT
from gateway.merchants.principal import Principal
from gateway.merchants.schemas import ApiKeyOut, MerchantOut
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService


class MerchantController(Controller):
    path = "/api/v1/merchants"
    tags = ["Merchant and keys"]  # noqa: RUF012 - Litestar reads this class attribute

    @get(
        "/me",
        opt={SCOPE_OPT: ANY_KEY},
        summary="The merchant that owns the calling key",
        responses=api_responses(),
    )
    async def me(
        self,
        principal: NamedDependency[Principal],
        merchant_service: NamedDependency[MerchantService],
    ) -> MerchantOut:
        merchant = await merchant_service.get_merchant(principal.merchant_id)
        return MerchantOut(
            id=merchant.id,
            name=merchant.name,
            livemode=principal.livemode,
            created_at=merchant.created_at,
        )


class ApiKeyController(Controller):
    path = "/api/v1/keys"
    tags = ["Merchant and keys"]  # noqa: RUF012
    opt = {SCOPE_OPT: Scope.ADMIN}  # noqa: RUF012

    @get(
        "/",
        summary="The merchant's API keys of the caller's mode, newest first",
        responses=api_responses(),
    )
    async def list_keys(
        self,
        principal: NamedDependency[Principal],
        merchant_service: NamedDependency[MerchantService],
        limit: LimitQuery = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
    ) -> Page[ApiKeyOut]:
        keys, next_cursor = await merchant_service.list_keys(
            principal.merchant_id, livemode=principal.livemode, cursor=cursor, limit=limit
        )
        return Page(data=[ApiKeyOut.of(key) for key in keys], next_cursor=next_cursor)

    @get("/{key_id:str}", summary="One API key", responses=api_responses(takes_id=True))
    async def get_key(
        self,
        key_id: FromPath[str],
        principal: NamedDependency[Principal],
        merchant_service: NamedDependency[MerchantService],
    ) -> ApiKeyOut:
        return ApiKeyOut.of(await merchant_service.get_key(principal, key_id))
