"""The console in a real browser: Playwright driving Debian's Chromium against
`gateway serve`, one server and one browser for the module.

Screenshots of every page land in `.console-screenshots/` (git-ignored)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gateway.console.service import OperatorService, Role
from gateway.core.clock import SystemClock
from gateway.core.ids import new_id
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.models import Base
from gateway.webhooks.models import WebhookEvent
from gateway.webhooks.outbound.models import WebhookDelivery, WebhookEndpoint
from tests.fixtures.payments import charge_body
from tests.served_api import REPOSITORY, served_process

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# Looked at once, at import: the fixtures that need it are async.
CHROMIUM_PRESENT = CHROMIUM.exists()
SCREENSHOTS = REPOSITORY / ".console-screenshots"
ADMIN = ("admin@example.test", "admin password 1")
VIEWER = ("viewer@example.test", "viewer password 1")
ORDER_ID = "order-browser-1"


@dataclass(frozen=True)
class Site:
    url: str
    key_id: str
    event_id: str
    delivery_id: str
    payment_id: str


async def _seed(engine: AsyncEngine) -> tuple[str, str, str, str, str]:
    clock = SystemClock()
    now = clock.now()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        operators = OperatorService(session, clock)
        await operators.create(ADMIN[0], Role.ADMIN, ADMIN[1])
        await operators.create(VIEWER[0], Role.VIEWER, VIEWER[1])
        merchants = MerchantService(session, clock)
        merchant = await merchants.create_merchant("Browser Books")
        issued = await merchants.create_key(merchant.id, [Scope.ADMIN], livemode=False)
        event = WebhookEvent(
            id=new_id("we"),
            source="simulator",
            notification_id=secrets.token_hex(8),
            event_type="net.authorize.payment.authcapture.created",
            status="dead",
            attempts=5,
            last_error="no such transaction",
            received_at=now,
            updated_at=now,
        )
        endpoint = WebhookEndpoint(
            id=new_id("wep"),
            merchant_id=merchant.id,
            livemode=False,
            url="https://hooks.example.test/gateway",
            events=["*"],
            secret_encrypted="unused by these tests",
            failing_since=now - timedelta(hours=1),
            created_at=now,
            updated_at=now,
        )
        session.add_all([event, endpoint])
        await session.flush()
        delivery = WebhookDelivery(
            id=new_id("whd"),
            merchant_id=merchant.id,
            livemode=False,
            endpoint_id=endpoint.id,
            event_id=new_id("evt"),
            event_type="payment.captured",
            object_type="transaction",
            object_id=new_id("txn"),
            sequence=1,
            status="dead",
            attempts=6,
            last_status_code=500,
            last_error="HTTP 500",
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        await session.commit()
    return issued.secret, issued.key.id, event.id, delivery.id, merchant.id


async def _truncate(engine: AsyncEngine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
async def site(engine: AsyncEngine, database_url: str, test_redis_url: str) -> AsyncIterator[Site]:
    secret, key_id, event_id, delivery_id, _ = await _seed(engine)
    environment = {
        "GATEWAY_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": test_redis_url,
        "GATEWAY_CONSOLE_SECRET": secrets.token_urlsafe(40),
        "GATEWAY_SIMULATOR_WEBHOOK_URL": "",
    }
    try:
        with served_process(environment) as (url, _):
            async with httpx.AsyncClient(base_url=url, timeout=10) as api:
                charge = await api.post(
                    "/api/v1/payments/purchase",
                    json=charge_body(2500, order_id=ORDER_ID),
                    headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "browser-1"},
                )
            assert charge.status_code == 201, charge.text
            yield Site(url, key_id, event_id, delivery_id, charge.json()["id"])
    finally:
        await _truncate(engine)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_PRESENT:
        pytest.skip("Debian's chromium is not installed: `make test` installs it")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        print(f"playwright {version('playwright')}, chromium {launched.version}")  # noqa: T201
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


async def _signed_in(
    browser: Browser, site: Site, who: tuple[str, str]
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=site.url)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    await page.goto("/console/login")
    await page.fill("#email", who[0])
    await page.fill("#password", who[1])
    await page.click("#sign-in")
    await page.wait_for_url("**/console/payments")
    return context, page


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_an_admin_finds_a_payment_reads_its_timeline_and_refunds_it(
    browser: Browser, site: Site, screenshots: Path
) -> None:
    context, page = await _signed_in(browser, site, ADMIN)
    try:
        await _shot(page, screenshots, "01-payments")
        assert await page.inner_text("#mode-label") == "TEST DATA"
        await page.fill("#q", ORDER_ID)
        await page.click("#search-button")
        await page.click(f"a[href='/console/payments/{site.payment_id}']")
        await page.wait_for_url(f"**/console/payments/{site.payment_id}")
        timeline = await page.inner_text("#timeline")
        assert "captured" in timeline
        assert "api" in timeline  # the actor
        assert await page.inner_text("#processor") != ""
        await _shot(page, screenshots, "02-payment")
        await page.click("#refund")
        await page.wait_for_selector("#flash")
        assert "refund" in (await page.inner_text("#flash")).lower()
        assert "refunded 25.00 USD" in await page.inner_text("#summary")
        assert "refund" in await page.inner_text("#children")
        await _shot(page, screenshots, "03-refunded")
    finally:
        await context.close()


async def test_an_admin_replays_a_dead_event_retries_a_delivery_and_revokes_a_key(
    browser: Browser, site: Site, screenshots: Path
) -> None:
    context, page = await _signed_in(browser, site, ADMIN)
    try:
        await page.goto("/console/webhooks/inbound?status=dead")
        await _shot(page, screenshots, "04-inbound")
        await page.click(f"#event-{site.event_id} button.replay")
        await page.wait_for_selector("#flash")
        assert "Replayed" in await page.inner_text("#flash")
        assert await page.inner_text(f"#event-{site.event_id} .status") == "received"

        await page.goto("/console/webhooks/outbound?status=dead")
        await _shot(page, screenshots, "05-outbound")
        await page.click(f"#delivery-{site.delivery_id} button.retry")
        await page.wait_for_selector("#flash")
        assert "Retrying" in await page.inner_text("#flash")

        await page.goto("/console/merchants")
        await _shot(page, screenshots, "06-merchants")
        await page.click("#merchants a")
        await page.click(f"#key-{site.key_id} button.revoke")
        await page.wait_for_selector("#flash")
        assert "Revoked" in await page.inner_text("#flash")
        assert await page.inner_text(f"#key-{site.key_id} .revoked") != ""
        await page.click("#create-key")
        secret = await page.inner_text("#new-key-secret")
        assert secret.startswith("gw_test_")
        await _shot(page, screenshots, "07-new-key")

        for path, name in (
            ("/console/operations", "08-operations"),
            ("/console/subscriptions", "09-subscriptions"),
        ):
            await page.goto(path)
            await _shot(page, screenshots, name)
    finally:
        await context.close()


async def test_a_viewer_cannot_act_and_a_forged_form_is_refused(
    browser: Browser, site: Site, screenshots: Path
) -> None:
    context, page = await _signed_in(browser, site, VIEWER)
    try:
        await page.goto(f"/console/payments/{site.payment_id}")
        assert await page.locator("#refund").count() == 0
        assert "shown to admins only" in await page.inner_text("#personal")
        await _shot(page, screenshots, "10-viewer-payment")
        token = await page.locator("input[name=_csrf_token]").first.get_attribute("value")
        refused = await context.request.post(
            f"/console/payments/{site.payment_id}/void",
            form={"_csrf_token": token or "", "idempotency_key": "viewer-void"},
            max_redirects=0,
        )
        assert refused.status == 403
    finally:
        await context.close()

    context, page = await _signed_in(browser, site, ADMIN)
    try:
        forged = await context.request.post(
            f"/console/payments/{site.payment_id}/void",
            form={"idempotency_key": "forged-void"},
            max_redirects=0,
        )
        assert forged.status == 403
        await page.set_content(await forged.text())
        await _shot(page, screenshots, "11-forged-refused")
    finally:
        await context.close()
