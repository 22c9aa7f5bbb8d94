"""Merchant and key rules, at service level against the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.core.errors import NotFound, Unauthorized, ValidationFailed
from gateway.merchants import keys
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService


@pytest.fixture
def service(db_session: AsyncSession, clock: FrozenClock) -> MerchantService:
    return MerchantService(db_session, clock)


async def test_merchants_get_time_ordered_ids(service: MerchantService) -> None:
    first = await service.create_merchant("  First  ")
    second = await service.create_merchant("Second")
    assert first.name == "First"
    assert first.id.startswith("mer_")
    assert first.id < second.id


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
async def test_a_merchant_needs_a_sensible_name(service: MerchantService, name: str) -> None:
    with pytest.raises(ValidationFailed):
        await service.create_merchant(name)


async def test_a_key_is_stored_as_a_hash_never_in_clear(
    service: MerchantService, merchant: Merchant, db_session: AsyncSession
) -> None:
    issued = await service.create_key(merchant.id, [Scope.PAYMENTS_READ], livemode=False)
    assert keys.looks_like_key(issued.secret)
    assert issued.secret.startswith("gw_test_")
    assert len(issued.secret) >= len("gw_test_") + 32
    assert issued.key.key_hash == keys.digest(issued.secret)
    assert issued.key.prefix == issued.secret[:12]
    dump = (await db_session.execute(text("SELECT api_keys::text FROM api_keys"))).scalars().all()
    assert not any(issued.secret in row or issued.secret[12:] in row for row in dump)


async def test_live_keys_say_so(service: MerchantService, merchant: Merchant) -> None:
    issued = await service.create_key(merchant.id, [Scope.ADMIN], livemode=True)
    assert issued.secret.startswith("gw_live_")
    assert (await service.authenticate(issued.secret)).livemode


async def test_authenticate_yields_the_merchant_key_and_mode(
    service: MerchantService, merchant: Merchant
) -> None:
    issued = await service.create_key(merchant.id, [Scope.PAYMENTS_WRITE], livemode=False)
    principal = await service.authenticate(issued.secret)
    assert principal.merchant_id == merchant.id
    assert principal.key_id == issued.key.id
    assert not principal.livemode
    assert principal.can(Scope.PAYMENTS_WRITE)
    assert not principal.can(Scope.ADMIN)


@pytest.mark.parametrize(
    "secret",
    ["", "gw_test_short", "sk_test_" + "a" * 40, "gw_test_" + "a" * 40, "gw_prod_" + "a" * 40],
)
async def test_unknown_or_malformed_keys_are_unauthorized(
    service: MerchantService, secret: str
) -> None:
    with pytest.raises(Unauthorized):
        await service.authenticate(secret)


async def test_a_revoked_key_is_unauthorized_at_once(
    service: MerchantService, merchant: Merchant, clock: FrozenClock
) -> None:
    issued = await service.create_key(merchant.id, [Scope.ADMIN], livemode=False)
    revoked = await service.revoke_key(issued.key.id)
    assert revoked.revoked_at == clock.now()
    clock.advance(timedelta(hours=1))
    again = await service.revoke_key(issued.key.id)
    assert again.revoked_at == revoked.revoked_at, "revoking twice keeps the first time"
    with pytest.raises(Unauthorized):
        await service.authenticate(issued.secret)


async def test_last_used_is_written_at_most_once_a_minute(
    service: MerchantService, merchant: Merchant, clock: FrozenClock, db_session: AsyncSession
) -> None:
    issued = await service.create_key(merchant.id, [Scope.ADMIN], livemode=False)

    async def last_used() -> object:
        await db_session.refresh(issued.key)
        return issued.key.last_used_at

    start = clock.now()
    await service.authenticate(issued.secret)
    assert await last_used() == start
    clock.advance(timedelta(seconds=30))
    await service.authenticate(issued.secret)
    assert await last_used() == start
    clock.advance(timedelta(seconds=31))
    await service.authenticate(issued.secret)
    assert await last_used() == clock.now()


async def test_a_key_of_another_merchant_or_mode_does_not_exist_for_the_caller(
    service: MerchantService, merchant: Merchant
) -> None:
    other = await service.create_merchant("Other Shop")
    mine = await service.create_key(merchant.id, [Scope.ADMIN], livemode=False)
    mine_live = await service.create_key(merchant.id, [Scope.ADMIN], livemode=True)
    theirs = await service.create_key(other.id, [Scope.ADMIN], livemode=False)
    principal = await service.authenticate(mine.secret)
    assert (await service.get_key(principal, mine.key.id)).id == mine.key.id
    with pytest.raises(NotFound):
        await service.get_key(principal, theirs.key.id)
    with pytest.raises(NotFound):
        await service.get_key(principal, mine_live.key.id)


async def test_max_amount_override_and_reset(service: MerchantService, merchant: Merchant) -> None:
    assert (await service.set_max_amount(merchant.id, 5000)).max_amount == 5000
    assert (await service.set_max_amount(merchant.id, None)).max_amount is None
    with pytest.raises(ValidationFailed):
        await service.set_max_amount(merchant.id, 0)
    with pytest.raises(NotFound):
        await service.set_max_amount("mer_0000000000000000", 10)
