"""Every outcome of a charge over HTTP, including each HTTP-visible row of ANET.md §9."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.merchants.models import Merchant
from gateway.merchants.service import MerchantService
from tests.fixtures.payments import TRIGGER_CARD, Post, charge_body


def trigger(dollars: int) -> dict[str, Any]:
    """A charge with ANET.md's reason-code card for an amount of `dollars`.00."""
    return charge_body(dollars * 100, number=TRIGGER_CARD)


async def test_an_approved_purchase_is_201_captured(post: Post) -> None:
    response = await post("purchase", charge_body(1500, order_id="order-1", description="Tea"))
    assert response.status_code == 201
    body = response.json()
    assert body["object"] == "transaction"
    assert body["type"] == "purchase"
    assert body["status"] == "captured"
    assert body["amount_captured"] == 1500
    assert body["card"]["brand"] == "visa"
    assert body["card"]["last4"] == "1111"
    assert body["auth_code"]
    assert body["processor_transaction_id"]
    assert body["order_id"] == "order-1"
    assert body["pending_reason"] is None


async def test_an_approved_authorization_is_201_authorized_with_an_expiry(
    post: Post, clock: FrozenClock
) -> None:
    response = await post("authorize", charge_body(2500))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "authorized"
    assert body["amount_captured"] == 0
    expected = (clock.now() + timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert body["expires_at"] == expected


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        (
            {
                "billing_address": {
                    "line1": "1 Main St",
                    "city": "Indy",
                    "postal_code": "46282",
                    "country": "US",
                }
            },
            "2",
        ),
        ({"cvv": "901"}, "65"),
    ],
    ids=["zip-46282", "cvv-901-filter"],
)
async def test_declines_are_402_with_the_transaction(
    post: Post, get: Any, extra: dict[str, Any], code: str
) -> None:
    cvv = extra.pop("cvv", "123")
    response = await post("purchase", charge_body(1500, cvv=cvv, **extra))
    assert response.status_code == 402
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "card_declined"
    assert problem["decline_code"] == code
    assert problem["decline_reason"]
    stored = await get(f"/{problem['transaction_id']}")
    assert stored.json()["status"] == "declined"
    assert stored.json()["decline_code"] == code
    listed = await get("", status="declined")
    assert [row["id"] for row in listed.json()["data"]] == [problem["transaction_id"]]


@pytest.mark.parametrize("reason", [2, 3, 4, 6, 7, 8, 27, 44, 45, 65])
async def test_reason_code_card_declines_are_402(post: Post, reason: int) -> None:
    labels = {"type": "purchase", "code": str(reason)}
    before = REGISTRY.get_sample_value("gateway_declines_total", labels) or 0.0
    response = await post("purchase", trigger(reason))
    assert response.status_code == 402, response.text
    assert response.json()["decline_code"] == str(reason)
    # Operators see declines by code (the Grafana dashboard's panel).
    assert REGISTRY.get_sample_value("gateway_declines_total", labels) == before + 1


@pytest.mark.parametrize("reason", [19, 20, 21, 22, 23, 57, 58, 59, 60, 61, 62, 63])
async def test_processing_errors_are_502_and_the_transaction_failed(
    post: Post, get: Any, reason: int
) -> None:
    response = await post("purchase", trigger(reason))
    assert response.status_code == 502
    assert response.json()["code"] == "processor_error"
    assert int(response.headers["retry-after"]) > 0
    stored = await get(f"/{response.json()['transaction_id']}")
    assert stored.json()["status"] == "failed"


@pytest.mark.parametrize("reason", [252, 253])
async def test_held_for_review_is_202_pending_processor_review(post: Post, reason: int) -> None:
    response = await post("purchase", trigger(reason))
    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    assert response.json()["pending_reason"] == "processor_review"


@pytest.mark.parametrize("dollars", [901, 902])
async def test_timeouts_are_202_pending_unknown_outcome(post: Post, dollars: int) -> None:
    response = await post("purchase", trigger(dollars))
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["pending_reason"] == "unknown_outcome"


async def test_an_unreachable_processor_is_503_the_attempt_failed_and_the_key_released(
    post: Post, get: Any
) -> None:
    first = await post("purchase", trigger(903), key="unreachable")
    assert first.status_code == 503
    problem = first.json()
    assert problem["code"] == "processor_unavailable"
    assert first.headers["retry-after"]
    stored = (await get(f"/{problem['transaction_id']}")).json()
    assert stored["status"] == "failed"
    assert stored["decline_reason"] == "processor unavailable"
    again = await post("purchase", trigger(903), key="unreachable")
    assert again.status_code == 503
    assert "idempotent-replayed" not in again.headers
    assert again.json()["transaction_id"] != problem["transaction_id"], "a new attempt"


async def test_any_other_reason_amount_approves(post: Post) -> None:
    assert (await post("purchase", trigger(1))).status_code == 201


async def test_avs_zip_gives_its_result(post: Post) -> None:
    address = {"line1": "1 Main St", "city": "Indy", "postal_code": "46205", "country": "US"}
    response = await post("purchase", charge_body(1500, billing_address=address))
    assert response.status_code == 201
    assert response.json()["avs_result"] == "N"


async def test_an_amount_above_the_merchants_maximum_is_400_and_writes_nothing(
    post: Post, get: Any, merchant: Merchant, db_session: AsyncSession, clock: FrozenClock
) -> None:
    await MerchantService(db_session, clock).set_max_amount(merchant.id, 1000)
    await db_session.commit()
    response = await post("purchase", charge_body(1001))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "amount"
    assert (await get("")).json()["data"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "usd"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "1500"}, "amount"),
        ({"amount": 15.0}, "amount"),
        (
            {
                "payment_method": {
                    "card": {
                        "number": "4111111111111112",
                        "exp_month": 12,
                        "exp_year": 2030,
                        "cvv": "123",
                    }
                }
            },
            "payment_method.card.number",
        ),
        (
            {
                "payment_method": {
                    "card": {
                        "number": "4111111111111111",
                        "exp_month": 12,
                        "exp_year": 2020,
                        "cvv": "123",
                    }
                }
            },
            "payment_method.card.exp_year",
        ),
        (
            {
                "payment_method": {
                    "card": {
                        "number": "370000000000002",
                        "exp_month": 12,
                        "exp_year": 2030,
                        "cvv": "123",
                    }
                }
            },
            "payment_method.card.cvv",
        ),
        ({"payment_method": {}}, "payment_method"),
        ({"metadata": {"k": 5}}, "metadata"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_invalid_charges_are_400_and_write_nothing(
    post: Post, get: Any, change: dict[str, Any], field: str
) -> None:
    response = await post("purchase", {**charge_body(1500), **change})
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert problem["errors"][0]["field"] == field
    assert "4111111111111111" not in response.text
    assert (await get("")).json()["data"] == []
