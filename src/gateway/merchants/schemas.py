"""Wire types of the merchant and key routes (API.md "Merchant and keys")."""

from __future__ import annotations

from datetime import datetime

import msgspec

from gateway.merchants.models import ApiKey


class MerchantOut(msgspec.Struct):
    id: str
    name: str
    livemode: bool
    created_at: datetime


class ApiKeyOut(msgspec.Struct):
    id: str
    prefix: str
    scopes: list[str]
    livemode: bool
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            prefix=key.prefix,
            scopes=list(key.scopes),
            livemode=key.livemode,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
            created_at=key.created_at,
        )
