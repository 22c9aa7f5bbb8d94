"""The payment methods API and token charges (API.md "Payment methods")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.audit.models import AuditEntry
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.processors.simulator.models import SimulatorPaymentMethod
from gateway.vault.models import PaymentMethod
from gateway.vault.service import PaymentMethodService
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import TRIGGER_CARD, Post

Send = Callable[..., Awaitable[httpx.Response]]

ADDRESS = {"line1": "9 Elm Road", "city": "Springfield", "postal_code": "62704", "country": "US"}


def card(number: str = "5424000000000015", cvv: str = "321") -> dict[str, Any]:
    return {
        "number": number,
        "exp_month": 11,
        "exp_year": 2031,
        "cvv": cvv,
        "holder_name": "Ada Byron",
    }


def new_method(**changes: Any) -> dict[str, Any]:
    return {
        "card": card(),
        "customer": {"id": "cus_7", "email": "Ada@Example.org"},
        "billing_address": ADDRESS,
        **changes,
    }


@pytest.fixture
def vault(client: httpx.AsyncClient, payments_key: str) -> Send:
    counter = iter(range(10_000))

    async def send(
        method: str,
        path: str = "",
        body: Any = None,
        *,
        key: str | None = None,
        api_key: str | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {api_key or payments_key}"}
        if method == "POST":
            headers["Idempotency-Key"] = key or f"pm-key-{next(counter)}"
        return await client.request(
            method, f"/api/v1/payment-methods{path}", json=body, headers=headers
        )

    return send


async def created(vault: Send, **changes: Any) -> dict[str, Any]:
    response = await vault("POST", "", new_method(**changes))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_card_is_stored_as_a_token(vault: Send) -> None:
    method = await created(vault)
    assert method["id"].startswith("pm_")
    assert method["object"] == "payment_method"
    assert method["livemode"] is False
    assert method["card"]["brand"] == "mastercard"
    assert method["card"]["last4"] == "0015"
    assert (method["card"]["exp_month"], method["card"]["exp_year"]) == (11, 2031)
    assert method["card"]["fingerprint"]
    assert method["customer"] == {"id": "cus_7", "email": "Ada@Example.org"}
    assert method["billing_address"]["line1"] == "9 Elm Road"
    assert "token" not in method
    assert "5424000000000015" not in str(method)
    fetched = await vault("GET", f"/{method['id']}")
    assert fetched.json() == method


async def test_creating_needs_an_idempotency_key_and_replays(
    vault: Send, client: httpx.AsyncClient, payments_key: str
) -> None:
    bare = await client.post(
        "/api/v1/payment-methods",
        json=new_method(),
        headers={"Authorization": f"Bearer {payments_key}"},
    )
    assert bare.status_code == 400
    assert bare.json()["code"] == "idempotency_key_missing"
    first = await vault("POST", "", new_method(), key="same")
    second = await vault("POST", "", new_method(), key="same")
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"card": card(number="5424000000000016")}, "card.number"),
        ({"card": {**card(), "exp_year": 2019}}, "card.exp_year"),
        ({"card": card(number="370000000000002", cvv="123")}, "card.cvv"),
        ({"billing_address": {**ADDRESS, "country": "usa"}}, "billing_address.country"),
    ],
)
async def test_an_invalid_card_is_400_and_stores_nothing(
    vault: Send, change: dict[str, Any], field: str
) -> None:
    response = await vault("POST", "", new_method(**change))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field
    assert (await vault("GET")).json()["data"] == []


async def test_list_by_customer_pages_newest_first(vault: Send, clock: FrozenClock) -> None:
    first = await created(vault)
    second = await created(vault)
    other = await created(vault, customer={"id": "cus_8"})
    listed = (await vault("GET", "?customer_id=cus_7")).json()
    assert [m["id"] for m in listed["data"]] == [second["id"], first["id"]]
    page = (await vault("GET", "?limit=2")).json()
    assert [m["id"] for m in page["data"]] == [other["id"], second["id"]]
    rest = (await vault("GET", f"?limit=2&cursor={page['next_cursor']}")).json()
    assert [m["id"] for m in rest["data"]] == [first["id"]]


async def test_a_token_charge_end_to_end(vault: Send, post: Post, get: Any) -> None:
    method = await created(vault)
    response = await post(
        "purchase", {"amount": 2500, "currency": "USD", "payment_method": {"token": method["id"]}}
    )
    assert response.status_code == 201, response.text
    charge = response.json()
    assert charge["status"] == "captured"
    assert charge["card"] == method["card"]
    assert charge["customer"]["email"] == "Ada@Example.org", "the stored card fills in the rest"
    auth = await post(
        "authorize", {"amount": 900, "currency": "USD", "payment_method": {"token": method["id"]}}
    )
    assert auth.status_code == 201


async def test_a_token_keeps_the_trigger_class_of_its_number(vault: Send, post: Post) -> None:
    method = await created(vault, card=card(number=TRIGGER_CARD, cvv="123"))
    declined = await post(
        "purchase", {"amount": 200, "currency": "USD", "payment_method": {"token": method["id"]}}
    )
    assert declined.status_code == 402
    assert declined.json()["decline_code"] == "2"


async def test_delete_removes_it_here_and_at_the_processor(
    vault: Send, post: Post, db_session: AsyncSession
) -> None:
    method = await created(vault)
    response = await vault("DELETE", f"/{method['id']}")
    assert response.status_code == 204
    assert (await vault("GET", f"/{method['id']}")).status_code == 404
    assert (await vault("DELETE", f"/{method['id']}")).status_code == 404
    charge = await post(
        "purchase", {"amount": 100, "currency": "USD", "payment_method": {"token": method["id"]}}
    )
    assert charge.status_code == 404
    assert charge.json()["code"] == "not_found"
    at_processor = (await db_session.scalars(select(SimulatorPaymentMethod))).all()
    assert [row.deleted_at is not None for row in at_processor] == [True]
    actions = (
        await db_session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_id == method["id"])
            .order_by(AuditEntry.created_at, AuditEntry.id)
        )
    ).all()
    assert actions == ["payment_method.create", "payment_method.delete"]


async def test_invariant_6_another_merchants_or_modes_token_is_404(
    vault: Send, post: Post, make_key: KeyFactory, db_session: AsyncSession, clock: FrozenClock
) -> None:
    method = await created(vault)
    service = MerchantService(db_session, clock)
    rival = await service.create_merchant("Rival")
    rival_key = (
        await service.create_key(
            rival.id, [Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ], livemode=False
        )
    ).secret
    await db_session.commit()
    live_key = await make_key(Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ, livemode=True)
    body = {"amount": 100, "currency": "USD", "payment_method": {"token": method["id"]}}
    for other in (rival_key, live_key):
        assert (await post("purchase", body, api_key=other)).status_code == 404
        assert (await vault("GET", f"/{method['id']}", api_key=other)).status_code == 404
        assert (await vault("DELETE", f"/{method['id']}", api_key=other)).status_code == 404
        assert (await vault("GET", api_key=other)).json()["data"] == []


async def test_the_email_is_found_by_its_blind_index(
    vault: Send, db_session: AsyncSession, field_crypto: FieldCrypto
) -> None:
    method = await created(vault)
    index = field_crypto.blind_index.email("  ada@example.ORG")
    found = (
        await db_session.scalars(
            select(PaymentMethod.id).where(PaymentMethod.customer_email_index == index)
        )
    ).all()
    assert found == [method["id"]]


async def test_invariant_8_nothing_personal_or_the_token_is_readable_in_the_database(
    vault: Send, db_session: AsyncSession, clock: FrozenClock, field_crypto: FieldCrypto
) -> None:
    method = await created(vault)
    row = await db_session.get(PaymentMethod, method["id"])
    assert row is not None
    token = PaymentMethodService(db_session, clock, field_crypto).processor_token(row)
    dump = " ".join(
        (await db_session.execute(text("SELECT t::text FROM payment_methods t"))).scalars().all()
    )
    for clear in (
        "Ada@Example.org",
        "ada@example.org",
        "9 Elm Road",
        "Springfield",
        "Ada Byron",
        token,
    ):
        assert clear not in dump
    assert row.customer_id == "cus_7", "the merchant's own reference stays in clear"
