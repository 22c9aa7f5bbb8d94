"""Every query on merchants and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.pagination import newest_first, page_of
from gateway.merchants.models import ApiKey, Merchant


class MerchantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, merchant: Merchant) -> Merchant:
        self.session.add(merchant)
        await self.session.flush()
        return merchant

    async def get(self, merchant_id: str) -> Merchant | None:
        return await self.session.get(Merchant, merchant_id)

    async def list(self, *, cursor: str | None, limit: int) -> tuple[list[Merchant], str | None]:
        statement = newest_first(
            select(Merchant), Merchant.created_at, Merchant.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def get(self, key_id: str) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def get_for_merchant(
        self, merchant_id: str, key_id: str, *, livemode: bool
    ) -> ApiKey | None:
        statement = select(ApiKey).where(
            ApiKey.merchant_id == merchant_id, ApiKey.id == key_id, ApiKey.livemode == livemode
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def list_for_merchant(
        self, merchant_id: str, *, livemode: bool | None, cursor: str | None, limit: int
    ) -> tuple[list[ApiKey], str | None]:
        statement = select(ApiKey).where(ApiKey.merchant_id == merchant_id)
        if livemode is not None:
            statement = statement.where(ApiKey.livemode == livemode)
        statement = newest_first(
            statement, ApiKey.created_at, ApiKey.id, cursor=cursor, limit=limit
        )
        rows = (await self.session.scalars(statement)).all()
        return page_of(rows, limit, position=lambda row: (row.created_at, row.id))

    async def find_by_hash(self, key_hash: str) -> tuple[ApiKey, Merchant] | None:
        statement = (
            select(ApiKey, Merchant)
            .join(Merchant, Merchant.id == ApiKey.merchant_id)
            .where(ApiKey.key_hash == key_hash)
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def mark_used(self, key_id: str, *, at: datetime, unless_since: datetime) -> None:
        """Record use, at most once per interval: the WHERE makes concurrent
        requests of one key write once."""
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < unless_since),
            )
            .values(last_used_at=at)
        )
