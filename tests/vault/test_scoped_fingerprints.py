"""Card fingerprints scoped per merchant and mode (issue 19 point 6):
HMAC(key(merchant, mode), global fingerprint), and rows stored with the global
fingerprint rewritten in place by the upgrade step `gateway migrate` runs."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.card_fingerprints import GLOBAL, SCOPED
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.merchants.models import Merchant
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.payments.models import Transaction
from gateway.vault.fingerprint_upgrade import scope_card_fingerprints
from gateway.vault.models import PaymentMethod
from tests.fixtures.payments import Post

NUMBER = "5424000000000015"
CARD = {"number": NUMBER, "exp_month": 11, "exp_year": 2031, "cvv": "321"}


async def _store_card(client: httpx.AsyncClient, api_key: str, key: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/payment-methods",
        json={"card": CARD},
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _rival_key(db_session: AsyncSession, clock: FrozenClock) -> str:
    service = MerchantService(db_session, clock)
    rival = await service.create_merchant("Rival")
    scopes = [Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ]
    secret = (await service.create_key(rival.id, scopes, livemode=False)).secret
    await db_session.commit()
    return secret


async def test_one_card_has_one_fingerprint_per_merchant_and_another_across_merchants(
    client: httpx.AsyncClient,
    payments_key: str,
    db_session: AsyncSession,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    merchant: Merchant,
) -> None:
    rival_key = await _rival_key(db_session, clock)
    mine = await _store_card(client, payments_key, "a")
    again = await _store_card(client, payments_key, "b")
    theirs = await _store_card(client, rival_key, "c")

    assert mine["id"] != again["id"]
    assert mine["card"]["fingerprint"] == again["card"]["fingerprint"]
    assert theirs["card"]["fingerprint"] != mine["card"]["fingerprint"]
    fingerprints = field_crypto.fingerprints
    assert mine["card"]["fingerprint"] == fingerprints.card_in_scope(
        NUMBER, merchant_id=merchant.id, livemode=False
    )
    assert fingerprints.card(NUMBER) not in {
        mine["card"]["fingerprint"],
        theirs["card"]["fingerprint"],
    }
    live = fingerprints.card_in_scope(NUMBER, merchant_id=merchant.id, livemode=True)
    assert live != mine["card"]["fingerprint"], "a merchant's two modes do not share it"


async def test_a_payment_shows_the_fingerprint_of_its_stored_card(
    post: Post, client: httpx.AsyncClient, payments_key: str
) -> None:
    method = await _store_card(client, payments_key, "stored")
    by_token = await post(
        "purchase", {"amount": 100, "currency": "USD", "payment_method": {"token": method["id"]}}
    )
    by_number = await post(
        "purchase", {"amount": 100, "currency": "USD", "payment_method": {"card": CARD}}
    )
    assert by_token.status_code == by_number.status_code == 201
    assert by_token.json()["card"]["fingerprint"] == method["card"]["fingerprint"]
    assert by_number.json()["card"]["fingerprint"] == method["card"]["fingerprint"]


async def test_a_row_stored_with_the_global_fingerprint_is_rewritten_once(
    client: httpx.AsyncClient,
    payments_key: str,
    post: Post,
    db_session: AsyncSession,
    session_factory: async_sessionmaker[AsyncSession],
    field_crypto: FieldCrypto,
) -> None:
    fingerprints = field_crypto.fingerprints
    method = await _store_card(client, payments_key, "old")
    charged = await post(
        "purchase", {"amount": 100, "currency": "USD", "payment_method": {"card": CARD}}
    )
    scoped = method["card"]["fingerprint"]
    # The rows as the code before scoping wrote them.
    for model, row_id in ((PaymentMethod, method["id"]), (Transaction, charged.json()["id"])):
        await db_session.execute(
            update(model)
            .where(model.id == row_id)
            .values(card_fingerprint=fingerprints.card(NUMBER), card_fingerprint_version=GLOBAL)
        )
    await db_session.commit()
    shown = await client.get(
        f"/api/v1/payment-methods/{method['id']}",
        headers={"Authorization": f"Bearer {payments_key}"},
    )
    assert shown.json()["card"]["fingerprint"] == scoped, "scoped as read before the upgrade"

    assert await scope_card_fingerprints(session_factory, fingerprints) == 2
    assert await scope_card_fingerprints(session_factory, fingerprints) == 0, "never twice"

    for model, row_id in ((PaymentMethod, method["id"]), (Transaction, charged.json()["id"])):
        row = (
            await db_session.execute(
                select(model.card_fingerprint, model.card_fingerprint_version).where(
                    model.id == row_id
                )
            )
        ).one()
        assert tuple(row) == (scoped, SCOPED)
