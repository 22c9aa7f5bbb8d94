"""The demo merchant that `gateway up` creates for local use."""

from __future__ import annotations

from gateway.core.errors import Unauthorized
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService

DEMO_MERCHANT_NAME = "Demo Shop"


async def ensure_demo_key(service: MerchantService, stored_key: str | None) -> str:
    """Reuse the stored demo key while it still authenticates (same database);
    otherwise make a demo merchant with a fresh test key of scope `admin`."""
    if stored_key:
        try:
            principal = await service.authenticate(stored_key)
        except Unauthorized:
            pass
        else:
            if not principal.livemode:
                return stored_key
    merchant = await service.create_merchant(DEMO_MERCHANT_NAME)
    issued = await service.create_key(merchant.id, [Scope.ADMIN], livemode=False)
    return issued.secret
