"""Capture, refund and cancel end to end over HTTP, with every rule of API.md."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.clock import FrozenClock
from gateway.merchants.scopes import Scope
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator
from tests.fixtures.merchants import KeyFactory
from tests.fixtures.payments import Post, charge_body


@pytest.fixture
def settle(db_session: AsyncSession, simulator: Simulator) -> Any:
    async def run() -> None:
        await SettlementService(db_session, simulator).settle(everything=True)
        await db_session.commit()

    return run


async def authorized(post: Post, amount: int = 1500) -> dict[str, Any]:
    response = await post("authorize", charge_body(amount))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def captured(post: Post, amount: int = 1500) -> dict[str, Any]:
    response = await post("purchase", charge_body(amount))
    assert response.status_code == 201, response.text
    return dict(response.json())


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    return problem


async def test_capture_all_by_default(post: Post, get: Any) -> None:
    auth = await authorized(post, 1500)
    response = await post("capture", {"transaction_id": auth["id"]})
    assert response.status_code == 201
    capture = response.json()
    assert capture["type"] == "capture"
    assert capture["status"] == "succeeded"
    assert capture["parent_id"] == auth["id"]
    assert capture["amount"] == 1500
    parent = (await get(f"/{auth['id']}")).json()
    assert parent["status"] == "captured"
    assert parent["amount_captured"] == 1500
    assert [e["to_status"] for e in parent["events"]] == ["pending", "authorized", "captured"]


async def test_capture_part_of_an_authorization(post: Post, get: Any) -> None:
    auth = await authorized(post, 1500)
    response = await post("capture", {"transaction_id": auth["id"], "amount": 1000})
    assert response.status_code == 201
    assert (await get(f"/{auth['id']}")).json()["amount_captured"] == 1000


async def test_capture_only_once(post: Post) -> None:
    auth = await authorized(post)
    assert (await post("capture", {"transaction_id": auth["id"], "amount": 500})).status_code == 201
    again = await post("capture", {"transaction_id": auth["id"], "amount": 500})
    assert_problem(again, 409, "invalid_state")


async def test_capture_at_most_the_authorized_amount(post: Post) -> None:
    auth = await authorized(post, 1500)
    response = await post("capture", {"transaction_id": auth["id"], "amount": 1501})
    problem = assert_problem(response, 422, "amount_exceeds_capturable")
    assert problem["transaction_id"] == auth["id"]


async def test_capture_only_an_authorization(post: Post) -> None:
    purchase = await captured(post)
    assert_problem(await post("capture", {"transaction_id": purchase["id"]}), 409, "invalid_state")


async def test_capture_an_expired_authorization_is_409(post: Post, clock: FrozenClock) -> None:
    auth = await authorized(post)
    clock.advance(timedelta(days=30))
    assert_problem(await post("capture", {"transaction_id": auth["id"]}), 409, "invalid_state")


async def test_state_rule_answers_before_amount_rule(post: Post) -> None:
    purchase = await captured(post, 1500)
    response = await post("capture", {"transaction_id": purchase["id"], "amount": 999999})
    assert_problem(response, 409, "invalid_state")


async def test_full_refund_before_settlement_is_a_void(post: Post, get: Any) -> None:
    purchase = await captured(post, 1500)
    response = await post("refund", {"transaction_id": purchase["id"], "reason": "customer asked"})
    assert response.status_code == 201, response.text
    refund = response.json()
    assert refund["type"] == "refund"
    assert refund["status"] == "succeeded"
    assert refund["reason"] == "customer asked"
    parent = (await get(f"/{purchase['id']}")).json()
    assert parent["status"] == "refunded"
    assert parent["amount_refunded"] == 1500
    assert parent["events"][-1]["reason"] == "void"
    child_events = (await get(f"/{refund['id']}")).json()["events"]
    assert child_events[-1]["reason"] == "void"


async def test_partial_refund_before_settlement_is_409(post: Post) -> None:
    purchase = await captured(post, 1500)
    response = await post("refund", {"transaction_id": purchase["id"], "amount": 500})
    problem = assert_problem(response, 409, "invalid_state")
    assert "not settled yet" in problem["detail"]


async def test_partial_refunds_after_settlement(post: Post, get: Any, settle: Any) -> None:
    purchase = await captured(post, 1500)
    await settle()
    first = await post("refund", {"transaction_id": purchase["id"], "amount": 500})
    assert first.status_code == 201, first.text
    parent = (await get(f"/{purchase['id']}")).json()
    assert parent["settled_at"] is not None
    assert (parent["status"], parent["amount_refunded"]) == ("partially_refunded", 500)
    too_much = await post("refund", {"transaction_id": purchase["id"], "amount": 1001})
    assert_problem(too_much, 422, "amount_exceeds_refundable")
    rest = await post("refund", {"transaction_id": purchase["id"]})
    assert rest.status_code == 201
    assert rest.json()["amount"] == 1000
    parent = (await get(f"/{purchase['id']}")).json()
    assert (parent["status"], parent["amount_refunded"]) == ("refunded", 1500)
    assert_problem(await post("refund", {"transaction_id": purchase["id"]}), 409, "invalid_state")


async def test_refund_window_after_settlement(post: Post, settle: Any, clock: FrozenClock) -> None:
    purchase = await captured(post, 1500)
    await settle()
    clock.advance(timedelta(days=121))
    assert_problem(await post("refund", {"transaction_id": purchase["id"]}), 409, "invalid_state")


async def test_an_id_of_a_capture_resolves_to_its_parent(post: Post, get: Any, settle: Any) -> None:
    auth = await authorized(post, 1500)
    capture = (await post("capture", {"transaction_id": auth["id"]})).json()
    await settle()
    response = await post("refund", {"transaction_id": capture["id"], "amount": 300})
    assert response.status_code == 201, response.text
    assert response.json()["parent_id"] == auth["id"]
    assert (await get(f"/{auth['id']}")).json()["amount_refunded"] == 300


async def test_cancel_an_authorization(post: Post, get: Any) -> None:
    auth = await authorized(post)
    response = await post("cancel", {"transaction_id": auth["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == auth["id"]
    assert response.json()["status"] == "voided"
    voids = (await get("", type="void")).json()["data"]
    assert [(v["parent_id"], v["status"]) for v in voids] == [(auth["id"], "succeeded")]


async def test_cancel_an_unsettled_purchase(post: Post) -> None:
    purchase = await captured(post)
    response = await post("cancel", {"transaction_id": purchase["id"]})
    assert response.status_code == 200
    assert response.json()["status"] == "voided"


async def test_cancel_of_a_settled_charge_is_409(post: Post, settle: Any) -> None:
    purchase = await captured(post)
    await settle()
    assert_problem(await post("cancel", {"transaction_id": purchase["id"]}), 409, "invalid_state")


async def test_cancel_twice_is_409(post: Post) -> None:
    auth = await authorized(post)
    assert (await post("cancel", {"transaction_id": auth["id"]})).status_code == 200
    assert_problem(await post("cancel", {"transaction_id": auth["id"]}), 409, "invalid_state")


@pytest.mark.parametrize("operation", ["capture", "refund", "cancel"])
async def test_an_unknown_transaction_is_404(post: Post, operation: str) -> None:
    response = await post(operation, {"transaction_id": "txn_0000000000000000"})
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("operation", ["capture", "refund", "cancel"])
async def test_invariant_6_another_merchants_transaction_is_404_on_every_route(
    post: Post,
    get: Any,
    make_key: KeyFactory,
    db_session: AsyncSession,
    clock: FrozenClock,
    operation: str,
) -> None:
    from gateway.merchants.service import MerchantService  # noqa: PLC0415

    service = MerchantService(db_session, clock)
    other = await service.create_merchant("Rival Shop")
    other_key = (
        await service.create_key(
            other.id, [Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ], livemode=False
        )
    ).secret
    await db_session.commit()
    auth = await authorized(post)
    theirs = await post(operation, {"transaction_id": auth["id"]}, api_key=other_key)
    assert_problem(theirs, 404, "not_found")
    live_key = await make_key(Scope.PAYMENTS_WRITE, Scope.PAYMENTS_READ, livemode=True)
    assert_problem(
        await post(operation, {"transaction_id": auth["id"]}, api_key=live_key), 404, "not_found"
    )
    assert (await get(f"/{auth['id']}")).status_code == 200


async def test_invariant_6_reads_are_scoped_to_merchant_and_mode(
    post: Post, client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    purchase = await captured(post)
    live_key = await make_key(Scope.PAYMENTS_READ, livemode=True)
    headers = {"Authorization": f"Bearer {live_key}"}
    one = await client.get(f"/api/v1/payments/{purchase['id']}", headers=headers)
    assert_problem(one, 404, "not_found")
    listing = await client.get("/api/v1/payments", headers=headers)
    assert listing.json() == {"data": [], "next_cursor": None}


async def test_scopes_of_the_payments_routes(
    client: httpx.AsyncClient, make_key: KeyFactory
) -> None:
    reader = {
        "Authorization": f"Bearer {await make_key(Scope.PAYMENTS_READ)}",
        "Idempotency-Key": "k",
    }
    writer = {
        "Authorization": f"Bearer {await make_key(Scope.PAYMENTS_WRITE)}",
        "Idempotency-Key": "k",
    }
    other = {
        "Authorization": f"Bearer {await make_key(Scope.SUBSCRIPTIONS_WRITE)}",
        "Idempotency-Key": "k",
    }
    assert (await client.get("/api/v1/payments", headers=reader)).status_code == 200
    assert (await client.get("/api/v1/payments", headers=writer)).status_code == 403
    for headers in (reader, other):
        response = await client.post(
            "/api/v1/payments/purchase", json=charge_body(), headers=headers
        )
        assert_problem(response, 403, "forbidden")
    response = await client.post("/api/v1/payments/purchase", json=charge_body(), headers=writer)
    assert response.status_code == 201


async def test_list_filters_and_pages(post: Post, get: Any, clock: FrozenClock) -> None:
    first = await captured(post)
    clock.advance(timedelta(minutes=1))
    auth = await authorized(post)
    clock.advance(timedelta(minutes=1))
    tagged = (
        await post("purchase", charge_body(700, order_id="A-7", customer={"id": "cus_9"}))
    ).json()
    assert [r["id"] for r in (await get("")).json()["data"]] == [
        tagged["id"],
        auth["id"],
        first["id"],
    ]
    assert [r["id"] for r in (await get("", type="authorization")).json()["data"]] == [auth["id"]]
    assert [r["id"] for r in (await get("", order_id="A-7")).json()["data"]] == [tagged["id"]]
    assert [r["id"] for r in (await get("", customer_id="cus_9")).json()["data"]] == [tagged["id"]]
    assert [r["id"] for r in (await get("", status="authorized")).json()["data"]] == [auth["id"]]
    window = await get("", created_gte=auth["created_at"], created_lt=tagged["created_at"])
    assert [r["id"] for r in window.json()["data"]] == [auth["id"]]
    page = (await get("", limit="2")).json()
    assert len(page["data"]) == 2
    assert "events" not in page["data"][0]
    rest = (await get("", limit="2", cursor=page["next_cursor"])).json()
    assert [r["id"] for r in rest["data"]] == [first["id"]]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"type": "sale"}, "type"),
        ({"created_gte": "2026-01-01T00:00:00"}, "created_gte"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "nope"}, "cursor"),
    ],
)
async def test_bad_list_queries_are_400(get: Any, params: dict[str, str], field: str) -> None:
    response = await get("", **params)
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == field


async def test_invariant_2_an_error_never_echoes_a_card_number(get: Any) -> None:
    response = await get("/4111111111111111")
    assert response.status_code == 404
    assert "4111111111111111" not in response.text
