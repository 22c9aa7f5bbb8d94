"""What a delivery sends: its event, with the object exactly as its GET returns it
now (never a stored copy, never a card number), and a renewal's invoice."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from gateway.core.crypto import FieldCrypto
from gateway.vault.pci_scan import find_all
from gateway.webhooks.outbound.models import WebhookDelivery
from gateway.webhooks.outbound.payloads import PayloadRenderer
from tests.fixtures.payments import VISA, Post, charge_body
from tests.subscriptions.conftest import (
    Api,
    Billing,
)
from tests.subscriptions.test_billing import until_due
from tests.webhooks.outbound.relaying import Outbound

Get = Callable[..., Awaitable[httpx.Response]]


async def rendered(
    outbound: Outbound, crypto: FieldCrypto, delivery: WebhookDelivery
) -> tuple[bytes, dict[str, Any]]:
    async with outbound.sessions() as session:
        body = await PayloadRenderer(crypto).render(session, delivery)
    return body, json.loads(body)


async def only_delivery(outbound: Outbound, object_id: str) -> WebhookDelivery:
    await outbound.relay()
    (delivery,) = await outbound.deliveries(object_id=object_id)
    return delivery


async def test_a_payment_event_carries_the_transaction_as_its_get_shows_it_and_no_card(
    post: Post, get: Get, outbound: Outbound, field_crypto: FieldCrypto
) -> None:
    await outbound.endpoint()
    response = await post("purchase", charge_body(1500, description="Tea"))
    assert response.status_code == 201, response.text
    transaction_id = response.json()["id"]
    delivery = await only_delivery(outbound, transaction_id)

    body, document = await rendered(outbound, field_crypto, delivery)

    assert VISA.encode() not in body
    # pci-scan's rule, not any 13-19 digits: a hex digest (the card fingerprint) may
    # hold such a run by chance, and did.
    assert find_all(body.decode()) == [], "nothing shaped like a card number"
    assert b'"cvv"' not in body
    assert document["id"] == delivery.event_id
    assert (document["type"], document["livemode"]) == ("payment.captured", False)
    assert document["sequence"] == delivery.sequence
    assert document["created_at"].endswith("Z")
    shown = (await get(f"/{transaction_id}")).json()
    assert document["data"] == {"object": shown}
    assert shown["card"]["last4"] == VISA[-4:]


async def test_the_object_is_rendered_from_its_current_state_at_each_attempt(
    post: Post, get: Get, outbound: Outbound, field_crypto: FieldCrypto
) -> None:
    await outbound.endpoint()
    transaction_id = (await post("purchase", charge_body(1500))).json()["id"]
    captured = await only_delivery(outbound, transaction_id)
    refund = await post("refund", {"transaction_id": transaction_id})
    assert refund.status_code == 201, refund.text

    _, document = await rendered(outbound, field_crypto, captured)

    assert document["type"] == "payment.captured"
    assert document["data"]["object"]["status"] == "refunded"
    assert document["data"]["object"] == (await get(f"/{transaction_id}")).json()


async def test_a_renewal_carries_the_subscription_and_its_invoice_as_the_api_shows_them(
    api: Api, billing: Billing, outbound: Outbound, field_crypto: FieldCrypto
) -> None:
    await outbound.endpoint()
    created = await api.subscribe()
    await outbound.relay()
    await until_due(api, billing, created["id"])
    await outbound.relay()
    first, renewal = await outbound.deliveries(object_id=created["id"])

    body, document = await rendered(outbound, field_crypto, renewal)
    _, creation = await rendered(outbound, field_crypto, first)

    assert VISA.encode() not in body
    assert document["type"] == "subscription.renewed"
    invoices = await api.invoices(created["id"])
    assert document["data"] == {
        "object": await api.one(created["id"]),
        "invoice": invoices[-1],
    }
    assert creation["type"] == "subscription.created"
    assert creation["data"] == {"object": await api.one(created["id"])}
