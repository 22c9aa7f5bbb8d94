"""No card number in free text (issue 19 point 2, API.md "Money, cards, addresses,
metadata"): every free-text field of every route refuses what `gateway pci-scan`
reports as a card number, with a 400 naming the field, nothing stored and the
value never echoed; ids that are not card-shaped stay accepted."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.card_numbers import holds_card_number
from gateway.core.errors import ValidationFailed
from gateway.core.problems import problem_of
from gateway.core.schemas import RequestBody, decode_body
from gateway.merchants.scopes import Scope
from gateway.payments.schemas import ChargeIn, RefundIn
from gateway.subscriptions.schemas import NewSubscription, SubscriptionUpdate
from gateway.vault.pci_scan import find_all
from gateway.vault.schemas import NewPaymentMethod
from gateway.webhooks.outbound.schemas import EndpointChange, NewEndpoint
from tests.core.stored import stored_rows
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import charge_body

_keys = itertools.count(1)
PM = "pm_0000000000000000"
TXN = "txn_0000000000000000"
SUB = "sub_0000000000000000"
WEP = "wep_0000000000000000"

# One way each of writing a card number into text: bare, grouped by spaces or
# dashes, inside a sentence; a test card and a real-brand number the scanner
# finds by prefix, length and Luhn alone.
CARDS = (
    "4111111111111111",
    "4111 1111 1111 1111",
    "5555-5555-5555-4444",
    "card 6011111111111117 ok",
)


def _with(body: dict[str, Any], dotted: str, value: str) -> dict[str, Any]:
    """`body` with `value` set at `dotted` (a.b.c), creating objects on the way."""
    node = body
    *parents, last = dotted.split(".")
    for parent in parents:
        node = node.setdefault(parent, {})
    node[last] = value
    return body


def _subscription() -> dict[str, Any]:
    return {
        "customer": {"id": "cus_42"},
        "amount": 1500,
        "currency": "USD",
        "interval": "month",
        "payment_method": {"token": PM},
    }


def _address() -> dict[str, str]:
    return {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def _card_only() -> dict[str, Any]:
    return {"card": charge_body()["payment_method"]["card"]}


def _charge() -> dict[str, Any]:
    return charge_body(billing_address=_address())


def _stored_card() -> dict[str, Any]:
    return {**_card_only(), "billing_address": _address()}


def _endpoint() -> dict[str, Any]:
    return {"url": "http://127.0.0.1:9/hooks", "events": ["*"]}


# Every route's body type with a valid body and each of its free-text fields.
# (Capture and cancel carry only a pattern-checked transaction id.)
CASES: list[tuple[str, type[RequestBody], Callable[[], dict[str, Any]], str]] = [
    *(
        (route, ChargeIn, _charge, field)
        for route in ("POST /payments/purchase", "POST /payments/authorize")
        for field in (
            "order_id",
            "description",
            "customer.id",
            "customer.email",
            "metadata.note",
            "billing_address.line1",
            "billing_address.city",
            "payment_method.card.holder_name",
        )
    ),
    ("POST /payments/refund", RefundIn, lambda: {"transaction_id": TXN}, "reason"),
    *(
        ("POST /payment-methods", NewPaymentMethod, _stored_card, field)
        for field in ("customer.id", "customer.email", "card.holder_name", "billing_address.line2")
    ),
    *(
        ("POST /subscriptions", NewSubscription, _subscription, field)
        for field in ("plan_id", "metadata.note", "customer.id", "customer.email")
    ),
    *(
        ("PUT /subscriptions/{id}", SubscriptionUpdate, dict, field)
        for field in ("plan_id", "metadata.note")
    ),
    ("POST /webhook-endpoints", NewEndpoint, _endpoint, "description"),
    ("POST /webhook-endpoints", NewEndpoint, _endpoint, "url"),
    ("PATCH /webhook-endpoints/{id}", EndpointChange, dict, "description"),
]


def _value(field: str, card: str) -> str:
    """The card number as the field can hold it, so the refusal is the number's:
    an email still looks like one, an id fits its 20 characters."""
    if field.endswith("email"):
        return card.replace(" ", "-") + "@example.org"
    if field.endswith(".id"):
        return card.removeprefix("card ").removesuffix(" ok")
    return card


@pytest.mark.parametrize("card", CARDS)
@pytest.mark.parametrize(
    ("route", "model", "valid", "field"), CASES, ids=[f"{c[0]} {c[3]}" for c in CASES]
)
def test_every_free_text_field_refuses_a_card_number_naming_the_field(
    route: str,
    model: type[RequestBody],
    valid: Callable[[], dict[str, Any]],
    field: str,
    card: str,
) -> None:
    decode_body(msgspec.json.encode(valid()), model)  # valid without the number
    raw = msgspec.json.encode(_with(valid(), field, _value(field, card)))
    with pytest.raises(ValidationFailed) as refused:
        decode_body(raw, model)
    assert [error.field for error in refused.value.errors] == [field]
    problem = msgspec.json.encode(problem_of(refused.value)).decode()
    assert card not in problem
    assert not find_all(problem)


def test_the_check_is_the_scanners_rule() -> None:
    for card in CARDS:
        assert find_all(card)
        assert holds_card_number(card)
    for harmless in ("100000000000000001", "1234567890123452", "txn_06H012EF380RQHN8"):
        assert not find_all(harmless)
        assert not holds_card_number(harmless)


@pytest.fixture
async def headers(make_key: KeyFactory) -> dict[str, str]:
    key = await make_key(
        Scope.PAYMENTS_READ,
        Scope.PAYMENTS_WRITE,
        Scope.SUBSCRIPTIONS_READ,
        Scope.SUBSCRIPTIONS_WRITE,
        Scope.WEBHOOKS_ADMIN,
    )
    return {"Authorization": f"Bearer {key}"}


async def send(
    client: httpx.AsyncClient, headers: dict[str, str], method: str, path: str, body: Any
) -> httpx.Response:
    keyed = {**headers, "Idempotency-Key": f"free-text-{next(_keys)}"}
    return await client.request(method, path, json=body, headers=keyed)


def assert_refused_without_echo(response: httpx.Response, fields: list[str], card: str) -> None:
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == fields
    assert all(error["message"] == "must not contain a card number" for error in problem["errors"])
    # Neither the number nor any form of it: what pci-scan would find, it finds nothing.
    assert card not in response.text
    assert not find_all(response.text)


async def test_a_refused_purchase_stores_nothing_and_leaves_its_key_free(
    client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
) -> None:
    before = await stored_rows(db_session)
    keyed = {**headers, "Idempotency-Key": "free-text-retry"}
    body = charge_body(description="card 4111 1111 1111 1111")
    refused = await client.post("/api/v1/payments/purchase", json=body, headers=keyed)
    assert_refused_without_echo(refused, ["description"], "4111 1111 1111 1111")
    assert await stored_rows(db_session) == before
    fixed = charge_body(description="card ending 1111")
    retried = await client.post("/api/v1/payments/purchase", json=fixed, headers=keyed)
    assert retried.status_code == 201, retried.text


async def test_subscription_and_endpoint_changes_are_refused_over_http(
    client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
) -> None:
    before = await stored_rows(db_session)
    for method, path, field in (
        ("PUT", f"/api/v1/subscriptions/{SUB}", "plan_id"),
        ("PATCH", f"/api/v1/webhook-endpoints/{WEP}", "description"),
        ("POST", "/api/v1/payment-methods", "customer.id"),
    ):
        body = _card_only() if path.endswith("payment-methods") else {}
        response = await send(client, headers, method, path, _with(body, field, "5555555555554444"))
        assert_refused_without_echo(response, [field], "5555555555554444")
    assert await stored_rows(db_session) == before


async def test_a_metadata_key_holding_a_card_number_names_the_mapping_not_the_key(
    client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
) -> None:
    before = await stored_rows(db_session)
    body = charge_body(metadata={"4111111111111111": "x", "note": "4111-1111-1111-1111"})
    response = await send(client, headers, "POST", "/api/v1/payments/purchase", body)
    assert_refused_without_echo(response, ["metadata", "metadata.note"], "4111111111111111")
    assert await stored_rows(db_session) == before


async def test_a_capture_id_holding_a_card_number_is_not_echoed(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    # Capture has no free text; its id is pattern-checked, and the message must
    # not quote the number either.
    response = await send(
        client,
        headers,
        "POST",
        "/api/v1/payments/capture",
        {"transaction_id": "4111111111111111"},
    )
    assert response.status_code == 400
    assert "4111111111111111" not in response.text


async def test_numeric_ids_that_are_not_card_shaped_are_accepted(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body = charge_body(
        order_id="100000000000000001",  # no brand prefix
        description="invoice 4111111111111112",  # a Visa prefix, but not Luhn-valid
        metadata={"ref": "1234567890123452", "when": "2026-01-15"},  # Luhn, no brand
    )
    response = await send(client, headers, "POST", "/api/v1/payments/purchase", body)
    assert response.status_code == 201, response.text
    assert response.json()["order_id"] == "100000000000000001"
    assert response.json()["metadata"]["ref"] == "1234567890123452"


async def test_the_card_fields_themselves_still_take_the_number(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await send(client, headers, "POST", "/api/v1/payment-methods", _card_only())
    assert response.status_code == 201, response.text
