"""The auth matrix on the merchant and key routes (API.md "Authentication and modes")."""

from __future__ import annotations

import re

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.merchants.auth import ANY_KEY, PUBLIC_PATHS, SCOPE_OPT
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from tests.fixtures.merchants import KeyFactory


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_code(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.mark.parametrize("path", ["/api/v1/merchants/me", "/api/v1/keys", "/api/v1/keys/key_x"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer gw_test_" + "a" * 40},
        {"X-API-Key": "gw_live_" + "b" * 40},
    ],
    ids=["missing", "empty-bearer", "basic", "malformed", "unknown-test", "unknown-live"],
)
async def test_missing_malformed_or_unknown_keys_are_401(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    assert_code(await client.get(path, headers=headers), 401, "unauthorized")


async def test_a_revoked_key_is_401(
    client: httpx.AsyncClient, make_key: KeyFactory, db_session: AsyncSession, clock: FrozenClock
) -> None:
    key = await make_key(Scope.ADMIN)
    service = MerchantService(db_session, clock)
    principal = await service.authenticate(key)
    await service.revoke_key(principal.key_id)
    await db_session.commit()
    assert_code(await client.get("/api/v1/merchants/me", headers=bearer(key)), 401, "unauthorized")


async def test_both_header_styles_authenticate(client: httpx.AsyncClient, admin_key: str) -> None:
    by_bearer = await client.get("/api/v1/merchants/me", headers=bearer(admin_key))
    by_header = await client.get("/api/v1/merchants/me", headers={"X-API-Key": admin_key})
    assert by_bearer.status_code == by_header.status_code == 200
    assert by_bearer.json() == by_header.json()


@pytest.mark.parametrize("scope", list(Scope))
async def test_merchants_me_answers_any_valid_key(
    client: httpx.AsyncClient, make_key: KeyFactory, merchant: Merchant, scope: Scope
) -> None:
    response = await client.get("/api/v1/merchants/me", headers=bearer(await make_key(scope)))
    assert response.status_code == 200
    assert response.json() == {
        "id": merchant.id,
        "name": "Test Shop",
        "livemode": False,
        "created_at": merchant.created_at.isoformat().replace("+00:00", "Z"),
    }


async def test_merchants_me_reports_the_mode_of_the_key(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    live = await make_key(Scope.PAYMENTS_READ, livemode=True)
    response = await client.get("/api/v1/merchants/me", headers=bearer(live))
    assert response.json()["livemode"] is True


@pytest.mark.parametrize("scope", list(Scope))
async def test_key_routes_need_admin(
    client: httpx.AsyncClient, make_key: KeyFactory, scope: Scope
) -> None:
    key = await make_key(scope)
    listing = await client.get("/api/v1/keys", headers=bearer(key))
    if scope is Scope.ADMIN:
        assert listing.status_code == 200
    else:
        assert_code(listing, 403, "forbidden")
        key_id = "key_0000000000000000"
        assert_code(
            await client.get(f"/api/v1/keys/{key_id}", headers=bearer(key)), 403, "forbidden"
        )


async def test_keys_list_shows_only_the_callers_mode_and_no_secret(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    test_admin = await make_key(Scope.ADMIN)
    test_reader = await make_key(Scope.PAYMENTS_READ)
    live_admin = await make_key(Scope.ADMIN, livemode=True)
    test_listing = (await client.get("/api/v1/keys", headers=bearer(test_admin))).json()
    live_listing = (await client.get("/api/v1/keys", headers=bearer(live_admin))).json()
    assert [key["prefix"] for key in test_listing["data"]] == [test_reader[:12], test_admin[:12]]
    assert {key["livemode"] for key in test_listing["data"]} == {False}
    assert [key["prefix"] for key in live_listing["data"]] == [live_admin[:12]]
    assert set(test_listing["data"][0]) == {
        "id",
        "prefix",
        "scopes",
        "livemode",
        "last_used_at",
        "revoked_at",
        "created_at",
    }
    for secret in (test_admin, test_reader, live_admin):
        assert secret not in str(test_listing) + str(live_listing)


async def test_get_key_and_other_merchants_keys_are_404(
    client: httpx.AsyncClient,
    make_key: KeyFactory,
    admin_key: str,
    db_session: AsyncSession,
    clock: FrozenClock,
) -> None:
    service = MerchantService(db_session, clock)
    other = await service.create_merchant("Other Shop")
    theirs = await service.create_key(other.id, [Scope.ADMIN], livemode=False)
    mine_live = await service.create_key(
        (await service.authenticate(admin_key)).merchant_id, [Scope.ADMIN], livemode=True
    )
    await db_session.commit()
    mine = (await client.get("/api/v1/keys", headers=bearer(admin_key))).json()["data"][0]
    one = await client.get(f"/api/v1/keys/{mine['id']}", headers=bearer(admin_key))
    assert one.status_code == 200
    assert one.json() == mine
    assert_code(
        await client.get(f"/api/v1/keys/{theirs.key.id}", headers=bearer(admin_key)),
        404,
        "not_found",
    )
    assert_code(
        await client.get(f"/api/v1/keys/{mine_live.key.id}", headers=bearer(admin_key)),
        404,
        "not_found",
    )
    assert_code(
        await client.get("/api/v1/keys/key_nonexistent", headers=bearer(admin_key)),
        404,
        "not_found",
    )


async def test_keys_list_pages_with_a_cursor(
    client: httpx.AsyncClient, make_key: KeyFactory, admin_key: str
) -> None:
    for _ in range(4):
        await make_key(Scope.PAYMENTS_READ)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/keys", params=params, headers=bearer(admin_key))).json()
        seen += [key["id"] for key in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True), "newest first"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
async def test_bad_limits_and_cursors_are_400(
    client: httpx.AsyncClient, admin_key: str, params: dict[str, str], field: str
) -> None:
    response = await client.get("/api/v1/keys", params=params, headers=bearer(admin_key))
    assert_code(response, 400, "validation_error")
    assert response.json()["errors"][0]["field"] == field


async def test_public_routes_need_no_key(client: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/health",
        "/api/v1/health/live",
        "/api/v1/metrics",
        "/schema/openapi.json",
    ):
        assert (await client.get(path)).status_code == 200, path


def test_every_non_public_route_declares_its_scope(app: Litestar) -> None:
    known = {scope.value for scope in Scope} | {ANY_KEY}
    for route in app.routes:
        if any(re.match(pattern, route.path) for pattern in PUBLIC_PATHS):
            continue
        for handler in getattr(route, "route_handlers", []):
            if "OPTIONS" in getattr(handler, "http_methods", ()) and len(handler.http_methods) == 1:
                continue
            assert handler.opt.get(SCOPE_OPT) in known, f"{route.path} declares no scope"
