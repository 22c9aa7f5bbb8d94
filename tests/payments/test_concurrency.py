"""Races on real commits: concurrent HTTP requests against one committed app.

The default `app`/`client` fixtures run every session on one connection inside a
rolled-back transaction, which serialises everything and so cannot show a race.
Here the app's sessions each take their own pooled connection and really commit
(`committed_engine` truncates every table afterwards); requests are fired at once
with `asyncio.gather`, and the simulator's own ledger is read to prove what
reached the processor (DESIGN.md invariant 4).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.composition.process import lent_resources
from gateway.core.clock import FrozenClock
from gateway.core.crypto import FieldCrypto
from gateway.core.settings import Settings
from gateway.merchants.scopes import Scope
from gateway.merchants.service import MerchantService
from gateway.payments.settlement import SettlementService
from gateway.processors.simulator import Simulator
from tests.fixtures.payments import charge_body
from tests.support import http_client

REPLAYED = "Idempotent-Replayed"


@dataclass(frozen=True)
class Shop:
    """A merchant with a payments key, and a client of an app that really commits."""

    client: httpx.AsyncClient
    merchant_id: str
    sessions: async_sessionmaker[AsyncSession]
    simulator: Simulator

    async def post(self, path: str, body: Any, *, key: str | None = None) -> httpx.Response:
        headers = {"Idempotency-Key": key or f"race-{uuid.uuid4()}"}
        return await self.client.post(f"/api/v1/payments/{path}", json=body, headers=headers)

    async def get(self, path: str = "", **params: str | int) -> httpx.Response:
        return await self.client.get(f"/api/v1/payments{path}", params=params)

    async def transaction(self, transaction_id: str) -> dict[str, Any]:
        response = await self.get(f"/{transaction_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(text(sql), params)).scalar_one()

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(text(sql), params)).all())

    async def settle_everything(self) -> None:
        async with self.sessions() as session:
            await SettlementService(session, self.simulator).settle(everything=True)
            await session.commit()


@pytest.fixture
async def shop(
    committed_engine: AsyncEngine,
    settings: Settings,
    redis_client: Redis,
    clock: FrozenClock,
    field_crypto: FieldCrypto,
    simulator: Simulator,
) -> AsyncIterator[Shop]:
    sessions = async_sessionmaker(committed_engine, expire_on_commit=False)
    async with sessions() as session:
        service = MerchantService(session, clock)
        merchant = await service.create_merchant("Race Shop")
        issued = await service.create_key(
            merchant.id, [Scope.PAYMENTS_READ, Scope.PAYMENTS_WRITE], livemode=False
        )
        await session.commit()
    resources = lent_resources(
        settings,
        engine=committed_engine,
        session_factory=sessions,
        redis=redis_client,
        clock=clock,
        crypto=field_crypto,
        # As production composes them: the simulator behind its breaker and retries.
        simulator=simulator,
    )
    app = create_app(settings, resources=resources)
    headers = {"Authorization": f"Bearer {issued.secret}"}
    async with http_client(app, headers=headers) as client:
        # Warm up, so that a race starts with every request on an open pooled
        # connection and the key's last_used_at written: otherwise the first request
        # gets ahead while the others wait for new connections, and nothing overlaps.
        warm_up = await asyncio.gather(*(client.get("/api/v1/payments") for _ in range(10)))
        assert all(r.status_code == 200 for r in warm_up)
        yield Shop(client=client, merchant_id=merchant.id, sessions=sessions, simulator=simulator)


def codes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    """(status, problem code) of each response, counted."""
    return Counter(
        (r.status_code, r.json().get("code") if r.status_code >= 400 else None) for r in responses
    )


async def simulator_calls(shop: Shop, operation: str) -> list[Any]:
    """Every call of `operation` the simulator answered, oldest first (whatever the
    reference: a call made for a child row that was then lost would count too)."""
    return await shop.rows(
        "SELECT reference, outcome, amount FROM simulator_requests"
        " WHERE operation = :operation ORDER BY id",
        operation=operation,
    )


# -- (a) captures ---------------------------------------------------------------


async def test_invariant_4_parallel_captures_of_one_authorization_capture_it_exactly_once(
    shop: Shop,
) -> None:
    authorized = await shop.post("authorize", charge_body(5000))
    assert authorized.status_code == 201, authorized.text
    auth_id = authorized.json()["id"]
    calls_before = await simulator_calls(shop, "capture")

    responses = await asyncio.gather(
        *(shop.post("capture", {"transaction_id": auth_id}) for _ in range(8))
    )

    assert codes(responses) == {(201, None): 1, (409, "invalid_state"): 7}, [
        r.text for r in responses
    ]
    (winner,) = [r.json() for r in responses if r.status_code == 201]
    assert winner["type"] == "capture"
    assert winner["status"] == "succeeded"
    assert winner["amount"] == 5000
    assert winner["parent_id"] == auth_id

    parent = await shop.transaction(auth_id)
    assert parent["status"] == "captured"
    assert parent["amount_captured"] == 5000
    moves = [(e["from_status"], e["to_status"]) for e in parent["events"]]
    assert moves == [(None, "pending"), ("pending", "authorized"), ("authorized", "captured")]

    children = await shop.rows(
        "SELECT id, status FROM transactions WHERE parent_id = :parent", parent=auth_id
    )
    assert [tuple(child) for child in children] == [(winner["id"], "succeeded")], (
        "the losers' phase 1 left no child behind"
    )
    # At most once to the processor: the losers were refused before phase 2.
    calls = (await simulator_calls(shop, "capture"))[len(calls_before) :]
    assert [tuple(call) for call in calls] == [(winner["id"], "approved", 5000)]


# -- (b) refunds -----------------------------------------------------------------


async def settled_purchase(shop: Shop, amount: int) -> str:
    purchased = await shop.post("purchase", charge_body(amount))
    assert purchased.status_code == 201, purchased.text
    await shop.settle_everything()
    transaction = await shop.transaction(purchased.json()["id"])
    assert transaction["settled_at"] is not None
    return str(transaction["id"])


async def test_parallel_partial_refunds_never_exceed_the_captured_amount(shop: Shop) -> None:
    purchase_id = await settled_purchase(shop, 10_000)
    calls_before = await simulator_calls(shop, "refund")

    # 10 x 1500 = 15000 > 10000: six fit (9000), and 1000 is left, which no loser's
    # 1500 fits, so every loser meets the amount rule (422), not the status rule.
    responses = await asyncio.gather(
        *(shop.post("refund", {"transaction_id": purchase_id, "amount": 1500}) for _ in range(10))
    )

    assert codes(responses) == {(201, None): 6, (422, "amount_exceeds_refundable"): 4}, [
        r.text for r in responses
    ]
    winners = [r.json() for r in responses if r.status_code == 201]
    assert all(w["type"] == "refund" and w["status"] == "succeeded" for w in winners)

    parent = await shop.transaction(purchase_id)
    assert parent["status"] == "partially_refunded"
    assert parent["amount_refunded"] == 9000
    assert parent["amount_refunded"] <= parent["amount_captured"] == 10_000
    children = await shop.rows(
        "SELECT status, count(*), sum(amount) FROM transactions"
        " WHERE parent_id = :parent GROUP BY status",
        parent=purchase_id,
    )
    assert [tuple(row) for row in children] == [("succeeded", 6, 9000)]
    calls = (await simulator_calls(shop, "refund"))[len(calls_before) :]
    assert sorted(call.reference for call in calls) == sorted(w["id"] for w in winners)
    assert sum(call.amount for call in calls) == 9000


async def test_parallel_uneven_refunds_leave_no_loser_that_would_have_fitted(shop: Shop) -> None:
    purchase_id = await settled_purchase(shop, 10_000)
    amounts = [4000, 3500, 3000, 2500, 2000, 1500, 1000, 700, 500, 300]  # 19000 in all
    calls_before = await simulator_calls(shop, "refund")

    responses = await asyncio.gather(
        *(
            shop.post("refund", {"transaction_id": purchase_id, "amount": amount})
            for amount in amounts
        )
    )

    refunded = sum(a for a, r in zip(amounts, responses, strict=True) if r.status_code == 201)
    parent = await shop.transaction(purchase_id)
    assert parent["amount_refunded"] == refunded <= parent["amount_captured"] == 10_000
    left = parent["amount_captured"] - parent["amount_refunded"]
    for amount, response in zip(amounts, responses, strict=True):
        if response.status_code == 201:
            continue
        if left == 0:
            # Refunded in full: a later loser meets the status rule first (API.md).
            assert response.json()["code"] in {"amount_exceeds_refundable", "invalid_state"}
        else:
            assert response.status_code == 422, response.text
            assert response.json()["code"] == "amount_exceeds_refundable"
        # What was left when it lost is at least what is left now.
        assert amount > left, f"a refund of {amount} lost though {left} is still refundable"
    calls = (await simulator_calls(shop, "refund"))[len(calls_before) :]
    assert {call.outcome for call in calls} == {"approved"}
    assert sum(call.amount for call in calls) == refunded


# -- (c) one Idempotency-Key, several requests at once -----------------------------


@pytest.mark.parametrize("copies", [2, 10], ids=["twice", "ten_times"])
async def test_invariant_4_same_idempotency_key_at_once_charges_once(
    shop: Shop, copies: int
) -> None:
    key = f"same-{uuid.uuid4()}"
    body = charge_body(2500, order_id="order-42")
    requests_before = await shop.scalar("SELECT count(*) FROM simulator_requests")
    charges_before = await shop.scalar("SELECT count(*) FROM simulator_transactions")

    responses = await asyncio.gather(*(shop.post("purchase", body, key=key) for _ in range(copies)))

    fresh = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(fresh) == 1, [(r.status_code, r.headers.get(REPLAYED), r.text) for r in responses]
    original = fresh[0].json()
    for response in responses:
        if response is fresh[0]:
            continue
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_key_in_use", response.text
        else:
            assert response.status_code == 201, response.text
            assert response.headers[REPLAYED] == "true"
            assert response.json() == original

    # Once everything finished, the key answers with the one result.
    again = await shop.post("purchase", body, key=key)
    assert again.status_code == 201
    assert again.headers[REPLAYED] == "true"
    assert again.json() == original

    ours = await shop.rows(
        "SELECT id, status FROM transactions WHERE merchant_id = :merchant",
        merchant=shop.merchant_id,
    )
    assert [tuple(row) for row in ours] == [(original["id"], "captured")]
    # The processor saw exactly one charge for this key: one call, one ledger row,
    # and it carries our one transaction's reference.
    assert await shop.scalar("SELECT count(*) FROM simulator_requests") == requests_before + 1
    assert await shop.scalar("SELECT count(*) FROM simulator_transactions") == charges_before + 1
    ledger = await shop.rows(
        "SELECT kind, amount, status FROM simulator_transactions WHERE reference = :reference",
        reference=original["id"],
    )
    assert [tuple(row) for row in ledger] == [("purchase", 2500, "capturedPendingSettlement")]
    assert (
        await shop.scalar(
            "SELECT count(*) FROM simulator_requests WHERE reference = :reference",
            reference=original["id"],
        )
        == 1
    )


# -- (d) many purchases and the list -----------------------------------------------


async def list_all(shop: Shop) -> list[dict[str, Any]]:
    response = await shop.get("", limit=100)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    data: list[dict[str, Any]] = body["data"]
    return data


async def test_parallel_purchases_with_different_keys_all_succeed_and_are_listed_once(
    shop: Shop,
) -> None:
    responses = await asyncio.gather(
        *(shop.post("purchase", charge_body(1000 + n)) for n in range(12))
    )

    assert codes(responses) == {(201, None): 12}, [r.text for r in responses]
    made = Counter(r.json()["id"] for r in responses)
    assert len(made) == 12
    listed = Counter(row["id"] for row in await list_all(shop))
    assert listed == made, "each purchase is listed exactly once, and nothing else"
    assert sorted(r.json()["amount"] for r in responses) == list(range(1000, 1012))


async def test_paging_while_purchases_are_inserted_returns_no_duplicates(
    shop: Shop, clock: FrozenClock
) -> None:
    # Four batches a second apart: rows tie on created_at within a batch (the id
    # decides) and differ across batches, so pages of 3 cross both kinds of step.
    existing: list[str] = []
    for batch in range(4):
        made = await asyncio.gather(
            *(shop.post("purchase", charge_body(2000 + 10 * batch + n)) for n in range(3))
        )
        existing += [r.json()["id"] for r in made if r.status_code == 201]
        clock.advance(timedelta(seconds=1))
    assert len(existing) == 12

    pages: list[list[dict[str, Any]]] = []
    inserted: list[httpx.Response] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        # Each page is read while two new purchases are being made.
        page, *new = await asyncio.gather(
            shop.get("", **params),
            shop.post("purchase", charge_body(3000 + len(inserted))),
            shop.post("purchase", charge_body(3500 + len(inserted))),
        )
        inserted += new
        assert page.status_code == 200, page.text
        pages.append(page.json()["data"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 20, "paging does not end"

    assert all(1 <= len(page) <= 3 for page in pages)
    seen = [row["id"] for page in pages for row in page]
    duplicates = [i for i, count in Counter(seen).items() if count > 1]
    assert duplicates == [], f"rows served twice: {duplicates}"
    assert set(existing) <= set(seen), "every row there before paging began is served"
    positions = [(row["created_at"], row["id"]) for page in pages for row in page]
    assert positions == sorted(positions, reverse=True), "newest first across pages"
    assert all(r.status_code == 201 for r in inserted), [r.text for r in inserted]
    everything = {row["id"] for row in await list_all(shop)}
    assert everything == set(existing) | {r.json()["id"] for r in inserted}
