"""The console's rules without a browser: sessions, CSRF, roles, lockout, rate
limits and the audit log, on the real database and Redis."""

from __future__ import annotations

from datetime import timedelta

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.app import create_app
from gateway.audit.models import AuditEntry
from gateway.composition.resources import Resources
from gateway.console.models import Operator
from gateway.console.passwords import verify_password
from gateway.console.security import session_config
from gateway.core.clock import FrozenClock
from gateway.core.setting_types import SettingsError
from gateway.core.settings import Settings, load_settings
from gateway.merchants.scopes import Scope
from gateway.payments.models import Transaction
from tests.console.conftest import ADMIN_EMAIL, PASSWORD, VIEWER_EMAIL, SignIn, csrf_token
from tests.fixtures.app import make_settings
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import Post, charge_body
from tests.subscriptions.conftest import Api as SubscriptionsApi
from tests.support import http_client


async def _audit(db_session: AsyncSession, action: str) -> list[AuditEntry]:
    rows = await db_session.scalars(select(AuditEntry).where(AuditEntry.action == action))
    return list(rows.all())


async def test_passwords_are_stored_as_argon2id_hashes(
    db_session: AsyncSession, operators: dict[str, str]
) -> None:
    operator = await db_session.get(Operator, operators["admin"])
    assert operator is not None
    assert operator.password_hash.startswith("$argon2id$")
    assert PASSWORD not in operator.password_hash
    assert verify_password(operator.password_hash, PASSWORD)
    assert not verify_password(operator.password_hash, PASSWORD + "!")


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    answer = await client.get("/console/payments")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login"


async def test_sign_in_and_out_are_audited_and_the_cookie_is_strict(
    client: httpx.AsyncClient,
    sign_in: SignIn,
    db_session: AsyncSession,
    operators: dict[str, str],
    clock: FrozenClock,
) -> None:
    answer = await sign_in(ADMIN_EMAIL, PASSWORD)
    assert answer.status_code == 303, answer.text
    cookie = next(
        v for v in answer.headers.get_list("set-cookie") if v.startswith("gateway_console=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # test environment: plain HTTP

    listing = await client.get("/console/payments")
    assert listing.status_code == 200
    assert "TEST DATA" in listing.text

    kept = dict(client.cookies)
    clock.advance(timedelta(seconds=1))
    logout = await client.post("/console/logout", data={"_csrf_token": csrf_token(listing.text)})
    assert logout.status_code == 303
    assert (await client.get("/console/payments")).status_code == 303
    # The cookie from before the sign-out, sent again, is over on the server too.
    client.cookies.clear()
    for name, value in kept.items():
        client.cookies.set(name, value, path="/console")
    assert (await client.get("/console/payments")).status_code == 303

    [login] = await _audit(db_session, "console.login.ok")
    [logout_row] = await _audit(db_session, "console.logout")
    assert login.operator_id == logout_row.operator_id == operators["admin"]
    assert login.merchant_id is None


def test_the_session_cookie_is_secure_in_production(settings: Settings) -> None:
    replace = msgspec.structs.replace
    production = replace(settings, core=replace(settings.core, env="production"))
    config = session_config(production)
    assert config.secure
    assert config.httponly
    assert config.samesite == "strict"


def test_production_keeps_the_console_off_unless_enabled_and_then_needs_a_secret() -> None:
    base = {"GATEWAY_ENV": "development"}
    assert load_settings(base).console_enabled
    assert not load_settings(
        {"GATEWAY_ENV": "test", "GATEWAY_CONSOLE_ENABLED": "false"}
    ).console_enabled
    with pytest.raises(SettingsError, match="GATEWAY_CONSOLE_SECRET: must be at least"):
        load_settings({"GATEWAY_CONSOLE_SECRET": "short"})


async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, sign_in: SignIn, post: Post, db_session: AsyncSession
) -> None:
    charge = (await post("purchase", charge_body(1500))).json()
    await sign_in(ADMIN_EMAIL, PASSWORD)
    forged = await client.post(
        f"/console/payments/{charge['id']}/refund", data={"idempotency_key": "forged-1"}
    )
    assert forged.status_code == 403
    wrong = await client.post(
        f"/console/payments/{charge['id']}/refund",
        data={"idempotency_key": "forged-2", "_csrf_token": "0" * 128},
    )
    assert wrong.status_code == 403
    refunds = await db_session.scalars(
        select(Transaction).where(Transaction.parent_id == charge["id"])
    )
    assert refunds.all() == []
    assert await _audit(db_session, "console.payment.refund") == []


async def test_a_viewer_reads_but_cannot_act_nor_see_personal_data(
    client: httpx.AsyncClient, sign_in: SignIn, post: Post, db_session: AsyncSession
) -> None:
    body = charge_body(
        1500, order_id="order-viewer", customer={"id": "cus_1", "email": "x@example.test"}
    )
    charge = (await post("purchase", body)).json()
    assert (await sign_in(VIEWER_EMAIL, PASSWORD)).status_code == 303
    detail = await client.get(f"/console/payments/{charge['id']}")
    assert detail.status_code == 200
    assert "x@example.test" not in detail.text
    assert "shown to admins only" in detail.text
    assert 'id="refund"' not in detail.text
    refused = await client.post(
        f"/console/payments/{charge['id']}/refund",
        data={"idempotency_key": "viewer-1", "_csrf_token": csrf_token(detail.text)},
    )
    assert refused.status_code == 403
    assert await _audit(db_session, "console.personal_data.view") == []


async def test_an_admin_refunds_once_through_the_apis_idempotency(
    client: httpx.AsyncClient, sign_in: SignIn, post: Post, db_session: AsyncSession
) -> None:
    body = charge_body(
        1500, order_id="order-42", customer={"id": "cus_2", "email": "y@example.test"}
    )
    charge = (await post("purchase", body)).json()
    await sign_in(ADMIN_EMAIL, PASSWORD)
    found = await client.get("/console/payments", params={"q": "order-42"})
    assert charge["id"] in found.text
    detail = await client.get(f"/console/payments/{charge['id']}")
    assert "y@example.test" in detail.text  # an admin sees it, and that is audited
    assert len(await _audit(db_session, "console.personal_data.view")) == 1
    form = {
        "idempotency_key": "same-form",
        "_csrf_token": csrf_token(detail.text),
    }
    first = await client.post(f"/console/payments/{charge['id']}/refund", data=form)
    again = await client.post(f"/console/payments/{charge['id']}/refund", data=form)
    assert first.status_code == again.status_code == 303
    page = await client.get(f"/console/payments/{charge['id']}")
    assert "refunded 15.00 USD" in page.text
    refunds = (
        await db_session.scalars(select(Transaction).where(Transaction.parent_id == charge["id"]))
    ).all()
    assert [(r.type, r.amount, r.status) for r in refunds] == [("refund", 1500, "succeeded")]
    rows = await _audit(db_session, "console.payment.refund")
    assert [row.details["replayed"] for row in rows] == [False, True]
    assert all(row.operator_id and row.merchant_id == charge_merchant(refunds) for row in rows)


def charge_merchant(refunds: object) -> str:
    [refund] = list(refunds)  # type: ignore[call-overload]
    return str(refund.merchant_id)


async def test_repeated_wrong_passwords_lock_the_account(
    client: httpx.AsyncClient, sign_in: SignIn, db_session: AsyncSession, settings: Settings
) -> None:
    for _ in range(settings.console.max_failed_logins - 1):
        assert (await sign_in(ADMIN_EMAIL, "wrong password!")).status_code == 401
    locked = await sign_in(ADMIN_EMAIL, "wrong password!")
    assert locked.status_code == 403
    # Even the right password is refused while the lock lasts.
    assert (await sign_in(ADMIN_EMAIL, PASSWORD)).status_code == 403
    assert (
        len(await _audit(db_session, "console.login.invalid"))
        == settings.console.max_failed_logins - 1
    )
    assert len(await _audit(db_session, "console.login.locked")) == 2
    # An unknown address gets the same answer as a wrong password.
    assert (await sign_in("nobody@example.test", PASSWORD)).status_code == 401


async def test_sign_in_attempts_are_rate_limited_per_address(
    database_url: str, test_redis_url: str, resources: Resources, operators: dict[str, str]
) -> None:
    settings = make_settings(database_url, test_redis_url, {"GATEWAY_CONSOLE_LOGINS_PER_MIN": "3"})
    app: Litestar = create_app(settings, resources=resources)
    async with http_client(app) as client:
        statuses = []
        for _ in range(4):
            page = await client.get("/console/login")
            answer = await client.post(
                "/console/login",
                data={
                    "email": VIEWER_EMAIL,
                    "password": "nope nope nope",
                    "_csrf_token": csrf_token(page.text),
                },
            )
            statuses.append(answer.status_code)
    assert statuses == [401, 401, 401, 429]


async def test_every_page_renders_for_an_admin_and_a_viewer(
    client: httpx.AsyncClient, sign_in: SignIn, make_key: KeyFactory
) -> None:
    """Each page with data on it, for both roles: a template that names a field
    that is not there fails here, not in front of an operator."""
    api = SubscriptionsApi(client, await make_key(Scope.ADMIN))
    subscription = await api.subscribe()
    payment = (await client.get("/api/v1/payments", headers=api._headers(None))).json()
    payment_id = payment["data"][0]["id"]
    merchant = (await client.get("/api/v1/merchants/me", headers=api._headers(None))).json()
    pages = [
        "/console/payments",
        "/console/payments?mode=live",
        "/console/payments?last4=1111&status=captured&date_from=2026-01-01&date_to=2026-12-31",
        f"/console/payments/{payment_id}",
        "/console/subscriptions",
        f"/console/subscriptions/{subscription['id']}",
        "/console/webhooks/inbound",
        "/console/webhooks/outbound",
        "/console/operations",
        "/console/merchants",
        f"/console/merchants/{merchant['id']}",
    ]
    for who in (ADMIN_EMAIL, VIEWER_EMAIL):
        assert (await sign_in(who, PASSWORD)).status_code == 303
        for path in pages:
            answer = await client.get(path)
            assert answer.status_code == 200, (who, path, answer.text[:300])
            assert answer.headers["cache-control"] == "no-store"
    bad_date = await client.get("/console/payments", params={"date_from": "yesterday"})
    assert "YYYY-MM-DD" in bad_date.text
    missing = await client.get("/console/payments/txn_0000000000000000")
    assert missing.status_code == 404


async def test_an_admin_voids_an_authorization_and_reconcile_refuses_a_finished_one(
    client: httpx.AsyncClient, sign_in: SignIn, post: Post, db_session: AsyncSession
) -> None:
    authorization = (await post("authorize", charge_body(900))).json()
    assert (await sign_in(ADMIN_EMAIL, PASSWORD)).status_code == 303
    path = f"/console/payments/{authorization['id']}"
    token = csrf_token((await client.get(path)).text)
    voided = await client.post(f"{path}/void", data={"_csrf_token": token, "idempotency_key": "v1"})
    assert voided.status_code == 303
    page = await client.get(path)
    assert 'id="txn-status">voided' in page.text
    reconcile = await client.post(f"{path}/reconcile", data={"_csrf_token": token})
    assert reconcile.status_code == 303
    assert "not pending" in (await client.get(path)).text
    [row] = await _audit(db_session, "console.payment.void")
    assert row.details["status"] == 200
