"""Litestar dependency providers of the merchants domain."""

from __future__ import annotations

from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.merchants.service import MerchantService


def provide_merchant_service(
    db_session: NamedDependency[AsyncSession], state: State
) -> MerchantService:
    return MerchantService(db_session, state.resources.clock)
