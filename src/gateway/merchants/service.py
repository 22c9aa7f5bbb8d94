"""Rules for merchants and API keys; no HTTP, no commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import Clock
from gateway.core.errors import NotFound, Unauthorized, ValidationFailed
from gateway.core.ids import new_id
from gateway.merchants import keys
from gateway.merchants.models import ApiKey, Merchant
from gateway.merchants.principal import Principal
from gateway.merchants.repository import ApiKeyRepository, MerchantRepository
from gateway.merchants.scopes import Scope

NAME_MAX_LENGTH = 200
# last_used_at is informational: writing it once a minute per key keeps it off
# the hot path of every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_BAD_KEY = "Missing, unknown or revoked API key."


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # shown once, never stored


class MerchantService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.clock = clock
        self.merchants = MerchantRepository(session)
        self.keys = ApiKeyRepository(session)

    async def create_merchant(self, name: str) -> Merchant:
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise ValidationFailed.for_field("name", f"1 to {NAME_MAX_LENGTH} characters")
        merchant = Merchant(id=new_id("mer"), name=name, created_at=self.clock.now())
        return await self.merchants.add(merchant)

    async def get_merchant(self, merchant_id: str) -> Merchant:
        merchant = await self.merchants.get(merchant_id)
        if merchant is None:
            raise NotFound(f"No merchant {merchant_id}.")
        return merchant

    async def list_merchants(
        self, *, cursor: str | None, limit: int
    ) -> tuple[list[Merchant], str | None]:
        return await self.merchants.list(cursor=cursor, limit=limit)

    async def set_max_amount(self, merchant_id: str, max_amount: int | None) -> Merchant:
        """`None` returns the merchant to the deployment's default maximum."""
        if max_amount is not None and max_amount < 1:
            raise ValidationFailed.for_field("max_amount", "must be a positive integer")
        merchant = await self.get_merchant(merchant_id)
        merchant.max_amount = max_amount
        return merchant

    async def set_rate_limit(self, merchant_id: str, rate_limit: int | None) -> Merchant:
        """Requests per second per key, for reads and writes each; `None` returns the
        merchant to the deployment's default for each mode."""
        if rate_limit is not None and rate_limit < 1:
            raise ValidationFailed.for_field("rate_limit", "must be a positive integer")
        merchant = await self.get_merchant(merchant_id)
        merchant.rate_limit = rate_limit
        return merchant

    async def create_key(
        self, merchant_id: str, scopes: list[Scope], *, livemode: bool
    ) -> IssuedKey:
        if not scopes:
            raise ValidationFailed.for_field("scopes", "at least one scope is required")
        merchant = await self.get_merchant(merchant_id)
        secret = keys.generate(livemode=livemode)
        key = ApiKey(
            id=new_id("key"),
            merchant_id=merchant.id,
            key_hash=keys.digest(secret),
            prefix=keys.display_prefix(secret),
            scopes=[scope.value for scope in scopes],
            livemode=livemode,
            created_at=self.clock.now(),
        )
        return IssuedKey(key=await self.keys.add(key), secret=secret)

    async def list_keys(
        self, merchant_id: str, *, livemode: bool | None, cursor: str | None, limit: int
    ) -> tuple[list[ApiKey], str | None]:
        return await self.keys.list_for_merchant(
            merchant_id, livemode=livemode, cursor=cursor, limit=limit
        )

    async def get_key(self, principal: Principal, key_id: str) -> ApiKey:
        """Another merchant's key, or one of the other mode, does not exist for the caller."""
        key = await self.keys.get_for_merchant(
            principal.merchant_id, key_id, livemode=principal.livemode
        )
        if key is None:
            raise NotFound(f"No API key {key_id}.")
        return key

    async def revoke_key(self, key_id: str) -> ApiKey:
        key = await self.keys.get(key_id)
        if key is None:
            raise NotFound(f"No API key {key_id}.")
        if key.revoked_at is None:
            key.revoked_at = self.clock.now()
        return key

    async def authenticate(self, secret: str) -> Principal:
        if not keys.looks_like_key(secret):
            raise Unauthorized(_BAD_KEY)
        found = await self.keys.find_by_hash(keys.digest(secret))
        if found is None:
            raise Unauthorized(_BAD_KEY)
        if found.revoked_at is not None:
            raise Unauthorized(_BAD_KEY)
        now = self.clock.now()
        if found.last_used_at is None or found.last_used_at < now - LAST_USED_RESOLUTION:
            await self.keys.mark_used(found.key_id, at=now, unless_since=now - LAST_USED_RESOLUTION)
        return Principal(
            merchant_id=found.merchant_id,
            merchant_name=found.merchant_name,
            key_id=found.key_id,
            livemode=found.livemode,
            scopes=frozenset(found.scopes),
            max_amount=found.max_amount,
            rate_limit=found.rate_limit,
        )
