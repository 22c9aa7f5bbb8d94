"""Every query on merchants and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.pagination import newest_first, page_of
from gateway.merchants.models import ApiKey, Merchant


@dataclass(frozen=True, slots=True)
class KeyHolder:
    """An API key and its merchant, as authentication reads them."""

    key_id: str
    livemode: bool
    scopes: list[str]
    revoked_at: datetime | None
    last_used_at: datetime | None
    merchant_id: str
    merchant_name: str
    max_amount: int | None
    rate_limit: int | None


_KEYS = ApiKey.__table__
_MERCHANTS = Merchant.__table__
assert isinstance(_KEYS, Table)
assert isinstance(_MERCHANTS, Table)
_BY_HASH = (
    select(
        _KEYS.c.id,
        _KEYS.c.livemode,
        _KEYS.c.scopes,
        _KEYS.c.revoked_at,
        _KEYS.c.last_used_at,
        _MERCHANTS.c.id,
        _MERCHANTS.c.name,
        _MERCHANTS.c.max_amount,
        _MERCHANTS.c.rate_limit,
    )
    .join(_MERCHANTS, _MERCHANTS.c.id == _KEYS.c.merchant_id)
    .where(_KEYS.c.key_hash == bindparam("key_hash"))
)


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

    async def find_by_hash(self, key_hash: str) -> KeyHolder | None:
        """The key by its hash, with what a request needs of its merchant: one Core
        statement (every authenticated request runs it; core/rows.py says why)."""
        row = (await self.session.execute(_BY_HASH, {"key_hash": key_hash})).one_or_none()
        return None if row is None else KeyHolder(*row)

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
